//! The VPP-1867 shape as a test (FD.io VPP's GTP-U tunnels leaked on every create/delete until the process ran
//! out of memory): `deploy/e2e/pmipgw_soak.py --pdn-cycle` runs the real LMA in a network namespace and `pdncycle`
//! as a MAG of its own, creating and deleting PDN connections over RFC 5844 IPv4-UDP signalling with a bounded
//! number alive, in rounds. After each round every gauge of the LMA's state (BCEs, keys, addresses, tunnels,
//! tables, mbufs) must be back at its start; the third round must stay under the second round's memory
//! high-water mark. Here 3 × 30k with 1k alive in debug builds; `bash bench/soak.sh` runs 3 × 1M with 10k alive.
//!
//! Lives in the bench package, whose binary `pdncycle` it needs; it uses the `pmipgw` that `cargo test
//! --workspace` builds next to it. Needs root and network namespaces (CI runs as root).

#[path = "../../tests/namespaced/mod.rs"]
mod namespaced;

use serde_json::Value;
use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

const DRIVER_LIMIT: Duration = Duration::from_secs(400);

#[test]
fn created_and_deleted_pdn_connections_leave_the_lma_as_it_was() {
    if let Err(why) = namespaced::preconditions() {
        panic!("the PDN-cycle test cannot run here: {why}. It needs root and network namespaces (CI runs as root).");
    }
    let pdncycle = Path::new(env!("CARGO_BIN_EXE_pdncycle"));
    let binary_dir = pdncycle.parent().expect("binary directory");
    assert!(
        binary_dir.join("pmipgw").exists() && binary_dir.join("pmipctl").exists(),
        "pmipgw and pmipctl must be built next to pdncycle ({}): run `cargo test --workspace`",
        binary_dir.display()
    );
    let dir = tempfile::Builder::new().prefix("pmipgw-cycle-test-").tempdir().expect("temp dir");
    let args: Vec<&OsStr> = [
        OsStr::new("--pdn-cycle"),
        OsStr::new("30000"),
        OsStr::new("--cycle-live"),
        OsStr::new("1000"),
        OsStr::new("--cycle-rate"),
        OsStr::new("5000"),
        OsStr::new("--binary-dir"),
        binary_dir.as_os_str(),
        OsStr::new("--pdncycle"),
        pdncycle.as_os_str(),
        OsStr::new("--quiet"),
    ]
    .into();
    let run_id = format!("c{}", std::process::id());
    let run = namespaced::DriverRun::start("pmipgw_soak.py", &args, &run_id, dir.path(), DRIVER_LIMIT);
    run.assert_clean("PDN cycle", check_summary);
}

fn check_summary(summary: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let rounds = summary["cycle"].as_array().cloned().unwrap_or_default();
    if rounds.len() != 3 {
        problems.push(format!("{} rounds ran, not 3", rounds.len()));
    }
    for (i, round) in rounds.iter().enumerate() {
        let driver = &round["driver"];
        let (creates, deletes) = (driver["creates"].as_u64(), driver["deletes"].as_u64());
        if creates != Some(30_000) || deletes != Some(30_000) {
            problems.push(format!("round {}: {creates:?} created, {deletes:?} deleted", i + 1));
        }
        if !driver["refused"].as_array().is_some_and(Vec::is_empty) {
            problems.push(format!("round {}: refused PBUs: {}", i + 1, driver["refused"]));
        }
    }
    // The LMA's state before and after each round, from its own API: every binding gauge back where it was.
    let before = &summary["state"]["before"]["lma"];
    for round in 1..=rounds.len() {
        let after = &summary["state"][format!("after round {round}")]["lma"];
        for gauge in ["lma.bces", "lma.uplink_keys", "lma.ipv4_addresses", "lma.ipv6_prefixes", "gateway.tunnels"] {
            if after[gauge] != 0 || before[gauge] != 0 {
                problems.push(format!("round {round}: {gauge} {} before, {} after", before[gauge], after[gauge]));
            }
        }
        if after["mempool.in_use"] != before["mempool.in_use"] {
            problems.push(format!(
                "round {round}: mbufs in use {} before, {} after",
                before["mempool.in_use"], after["mempool.in_use"]
            ));
        }
    }
    // Memory from /proc: the third round stays under the second round's peak + 1 % (the first takes a fresh
    // process to its steady state, the second settles what the allocator keeps once everything was freed).
    let peaks: Vec<u64> =
        summary["rss"]["lma"]["round_peaks_kib"].as_array().into_iter().flatten().filter_map(Value::as_u64).collect();
    match peaks.as_slice() {
        [_, second, third] if *third * 100 <= *second * 101 => {}
        other => problems.push(format!("LMA RSS peaks per round (KiB): {other:?}")),
    }
    problems
}
