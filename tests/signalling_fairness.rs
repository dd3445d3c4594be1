//! A storm of PBUs from one MAG costs that MAG its excess and never another MAG its PBUs: the real LMA on
//! net_pcap reads 20,000 initial attaches from MAG A with one from MAG B after every 200 of them. The worker admits
//! each MAG's signalling within its share (`gateway.signalling_rate_per_peer`, per-peer token buckets) before the
//! punt queue, so every one of B's PBUs is answered, accepted, whatever A sends; A's excess is dropped and counted
//! for A. Counts, not times: B never exceeds its burst, and A always does.

mod common;

use common::*;
use std::net::Ipv6Addr;

const MAG_A: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
const MAG_B: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2);
const LMAA: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 1);
const STORM: u32 = 20_000;
/// One PBU from B after every this many from A.
const EVERY: u32 = 200;
const BURST: u32 = 200;

/// UE `ue`'s initial attach from `mag`.
fn pbu_frame(mag: Ipv6Addr, ue: u32) -> Vec<u8> {
    initial_attach(mag, LMAA, ue, false)
}

fn lma_config(s: &Scenario) -> String {
    format!(
        "{dpdk}[gateway]\nlmaa = [\"{LMAA}\"]\ntable_capacity = 32768\npunt_queue_depth = 1024\n\
         signalling_rate_per_peer = 1000\nsignalling_burst_per_peer = {BURST}\n\n{sections}\
         [lma]\nallowed_mags = [\"2001:db8:1::/64\"]\nuplink_keys = {{ first = 0x0a000000, last = 0x0a0fffff }}\n\
         timestamp_validity_window_ms = 315360000000\nmax_bindings = 32768\ndefault_apn = \"internet\"\n\
         [[lma.apns]]\nname = \"internet\"\nipv6_pool = \"2001:db8:aaaa::/48\"\n\n\
         [lma.heartbeat]\nrestart_counter_file = \"{restart}\"\n",
        // Hundreds of "binding up" lines would fill the stderr pipe the harness reads only at exit.
        dpdk = s
            .dpdk_section()
            .replace("mempool_size = 4095", "mempool_size = 32767")
            .replace("[run]\n", "[run]\nlog_level = \"warn\"\n"),
        sections = s.lma_pcap_sections(),
        restart = s.path("restart-counter").display(),
    )
}

#[test]
fn a_storm_from_one_mag_never_costs_another_mag_its_pbus() {
    let s = Scenario::new("fairness");
    let mut frames = Vec::new();
    let mut from_b = 0;
    for i in 0..STORM {
        frames.push(pbu_frame(MAG_A, i));
        if i % EVERY == EVERY - 1 {
            frames.push(pbu_frame(MAG_B, 1_000_000 + from_b));
            from_b += 1;
        }
    }
    assert!(from_b < BURST, "B stays within its burst whatever the timing");
    let (stdout, counters) = run_lma_pcap(&s, &lma_config(&s), &frames);

    // The PBAs on the wire, by destination and status (tshark).
    let pbas = tshark_rows(&s.path("core-out.pcap"), "mip6.mhtype == 6", &["ipv6.dst", "mip6.ba.status"]);
    let to = |mag: Ipv6Addr| pbas.iter().filter(|l| l.starts_with(&format!("{mag}\t"))).collect::<Vec<_>>();
    let (to_a, to_b) = (to(MAG_A), to(MAG_B));
    assert_eq!(to_b.len() as u32, from_b, "every PBU of B answered\n{stdout}");
    assert!(to_b.iter().all(|l| l.ends_with("\t0")), "and accepted: {to_b:?}");

    // A got its share and no more; the rest was dropped in the worker and counted for A.
    let admission = counters["fastpath"]["signalling_admission"].as_array().expect("per-peer admission").clone();
    let peer = |mag: Ipv6Addr| {
        let entry = admission.iter().find(|p| p["peer"] == mag.to_string()).expect("the peer is counted");
        (entry["admitted"].as_u64().unwrap(), entry["rate_limited"].as_u64().unwrap())
    };
    let (a_admitted, a_limited) = peer(MAG_A);
    assert_eq!(peer(MAG_B), (u64::from(from_b), 0), "B: all admitted");
    assert_eq!(a_admitted + a_limited, u64::from(STORM), "every PBU of A counted once");
    assert!(a_admitted >= u64::from(BURST) && a_limited > u64::from(STORM) / 2, "A cut to its share: {a_admitted}");
    assert_eq!(to_a.len() as u64, a_admitted, "what A was let through was answered");
    println!(
        "MAG A: {a_admitted} admitted, {a_limited} rate-limited, {} PBAs; MAG B: {from_b} of {from_b}",
        to_a.len()
    );
    let drops = &counters["fastpath"]["total"]["drops"];
    assert_eq!(drops["signalling-rate-limited"], a_limited, "{stdout}");
    assert_eq!(drops["punt-queue-full"], 0, "the queue never overflowed: only shares reached it");
    assert!(stdout.contains("signalling-rate-limited"), "{stdout}");
}
