//! A burst of PBAs larger than the inject queue leaves whole: the real LMA on net_pcap reads 4,000 initial
//! attaches back to back, with `state.min_commit_interval_us` long enough that one journal commit releases
//! (nearly) all their PBAs at once — four times what the queue to worker 0 holds. Every PBU is answered and
//! accepted, none is counted as not sent.

mod common;

use common::*;
use std::net::Ipv6Addr;

const MAG: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
const LMAA: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 1);
const PBUS: u32 = 4_000;

fn lma_config(s: &Scenario) -> String {
    format!(
        "{dpdk}[gateway]\nlmaa = [\"{LMAA}\"]\ntable_capacity = 8192\npunt_queue_depth = 8192\n\
         signalling_rate_per_peer = 0\n\n{sections}\
         [lma]\nallowed_mags = [\"2001:db8:1::/64\"]\nuplink_keys = {{ first = 0x0a000000, last = 0x0a0fffff }}\n\
         timestamp_validity_window_ms = 315360000000\nmax_bindings = 8192\ndefault_apn = \"internet\"\n\
         [[lma.apns]]\nname = \"internet\"\nipv6_pool = \"2001:db8:aaaa::/48\"\n\n\
         [lma.heartbeat]\nrestart_counter_file = \"{restart}\"\n\
         [state]\nmin_commit_interval_us = 200000\n",
        dpdk = s
            .dpdk_section()
            .replace("mempool_size = 4095", "mempool_size = 32767")
            .replace("exit_when_idle_ms = 300", "exit_when_idle_ms = 1500")
            // An idle worker looks at the inject queue every 20 ms: the released PBAs come faster than that.
            .replace("sleep_us = 200", "sleep_us = 20000")
            .replace("[run]\n", "[run]\nlog_level = \"warn\"\n"),
        sections = s.lma_pcap_sections(),
        restart = s.path("restart-counter").display(),
    )
}

#[test]
fn pbas_released_together_by_one_commit_all_leave() {
    let s = Scenario::new("pba-burst");
    let frames: Vec<Vec<u8>> = (0..PBUS).map(|ue| initial_attach(MAG, LMAA, ue, false)).collect();
    let (stdout, counters) = run_lma_pcap(&s, &lma_config(&s), &frames);

    let pbas = tshark_rows(&s.path("core-out.pcap"), "mip6.mhtype == 6", &["ipv6.dst", "mip6.ba.status"]);
    assert_eq!(pbas.len() as u32, PBUS, "every PBU answered once\n{stdout}");
    assert!(pbas.iter().all(|l| *l == format!("{MAG}\t0")), "all accepted, to the MAG");
    let control = &counters["fastpath"]["control"];
    assert_eq!(control["thread"]["send_failed"], 0, "{stdout}");
    assert_eq!(control["procedures"]["bindings"], PBUS, "{stdout}");
    assert_eq!(counters["fastpath"]["total"]["drops"]["punt-queue-full"], 0, "{stdout}");
}
