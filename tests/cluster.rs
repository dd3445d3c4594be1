//! Keys that say who owns a binding (`controlplane::placement`), through the real binary on net_pcap:
//! - two LMA instances of one cluster (`[cluster] instances = 2`), given the same configuration but for their
//!   instance number and the same PBUs, hand out disjoint uplink keys and home addresses: each key carries its
//!   instance in its top bit, each address comes from that instance's half of the pool (PBAs read with tshark);
//! - an LMA with two workers hands its keys out to both in turn, and on a device that cannot steer by key (the
//!   net_pcap PMD has no rte_flow) reports RSS with the device's reason and forwards every tunnel, whichever
//!   worker receives it.

mod common;

use common::*;
use std::collections::HashSet;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::Command;

const MAG: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
const LMAA: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 1);
const UES: u32 = 40;

mod fastpath_support;

fn pbu_frame(ue: u32) -> Vec<u8> {
    initial_attach(MAG, LMAA, ue, true)
}

fn lma_config(s: &Scenario, instance: u32) -> String {
    format!(
        "{dpdk}[gateway]\nlmaa = [\"{LMAA}\"]\ntable_capacity = 1024\n\n{sections}\
         [cluster]\ninstance = {instance}\ninstances = 2\n\n\
         [lma]\nallowed_mags = [\"2001:db8:1::/64\"]\n\
         timestamp_validity_window_ms = 315360000000\nmax_bindings = 1024\ndefault_apn = \"internet\"\n\
         [[lma.apns]]\nname = \"internet\"\nipv6_pool = \"2001:db8:aaaa::/56\"\nipv4_pool = \"10.45.0.0/24\"\n\n\
         [lma.heartbeat]\nrestart_counter_file = \"{restart}\"\n",
        dpdk = s.dpdk_section(),
        sections = s.lma_pcap_sections(),
        restart = s.path("restart-counter").display(),
    )
}

/// One PBA as tshark reads it.
struct Pba {
    status: u32,
    key: u32,
    prefix: Ipv6Addr,
    hoa: Ipv4Addr,
}

fn run_instance(instance: u32, frames: &[Vec<u8>]) -> Vec<Pba> {
    let s = Scenario::new(&format!("cluster-{instance}"));
    write_pcap(&s.path("core-in.pcap"), frames);
    write_pcap(&s.path("empty.pcap"), &[]);
    let config = s.write_config(&lma_config(&s, instance));
    let out = run_gateway(&["-c", config.to_str().unwrap()]);
    expect_success(&out);
    read_pbas(&s.path("core-out.pcap"))
}

fn read_pbas(pcap: &std::path::Path) -> Vec<Pba> {
    let out = Command::new("tshark")
        .args(["-n", "-r", pcap.to_str().unwrap(), "-Y", "mip6.mhtype == 6", "-T", "fields"])
        .args(["-E", "separator=|", "-e", "mip6.ba.status", "-e", "mip6.gre_key"])
        .args(["-e", "mip6.nemo.mnp.mnp", "-e", "mip6.ipv4ha.ha"])
        .output()
        .expect("tshark must be installed (deploy/install-deps.sh installs it)");
    assert!(out.status.success(), "tshark: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split('|').collect();
            Pba {
                status: f[0].parse().expect("a status"),
                key: f[1].parse().expect("a GRE key"),
                prefix: f[2].parse().expect("a prefix"),
                hoa: f[3].parse().expect("an IPv4 home address"),
            }
        })
        .collect()
}

#[test]
fn two_instances_of_a_cluster_hand_out_disjoint_keys_and_addresses() {
    let frames: Vec<_> = (0..UES).map(pbu_frame).collect();
    let mut keys = HashSet::new();
    let mut prefixes = HashSet::new();
    let mut hoas = HashSet::new();
    for instance in 0..2 {
        let pbas = run_instance(instance, &frames);
        assert_eq!(pbas.len(), UES as usize, "instance {instance} answers every PBU");
        for pba in &pbas {
            assert_eq!(pba.status, 0, "accepted");
            assert_eq!(pba.key >> 31, instance, "the key {:#010x} names instance {instance}", pba.key);
            // A /56 holds 256 /64s: instance 0 takes 2001:db8:aaaa:0..=7f::, instance 1 the rest.
            let subnet = pba.prefix.segments()[3];
            assert!(subnet < 0x100 && u32::from(subnet >= 0x80) == instance, "{} of instance {instance}", pba.prefix);
            // 10.45.0.2 ..= 10.45.0.254 split in two: up to .127 and from .128.
            let host = pba.hoa.octets()[3];
            assert!(u32::from(host >= 128) == instance, "{} of instance {instance}", pba.hoa);
            assert!(keys.insert(pba.key), "key {:#010x} handed out twice", pba.key);
            assert!(prefixes.insert(pba.prefix), "{} handed out twice", pba.prefix);
            assert!(hoas.insert(pba.hoa), "{} handed out twice", pba.hoa);
        }
    }
}

/// Frames between the PBUs and the GRE traffic, so the tunnels are installed before it is read (as a MAG waits
/// for the PBA).
const FILLER: usize = 100_000;
/// Uplink packets per UE.
const PACKETS: usize = 25;

#[test]
fn two_workers_own_alternate_keys_and_without_steering_every_tunnel_is_forwarded() {
    use fastpath_support::{tunnelled, udp4, CN4};
    let s = Scenario::new("two-workers");
    // The keys the LMA hands out, least-loaded worker first: worker 0's field counts 2, 4, ..., worker 1's 1, 3, ...
    let keys = [2u32, 1, 4, 3];
    let mut queue0: Vec<Vec<u8>> = (0..4).map(pbu_frame).collect();
    queue0.extend(std::iter::repeat_n(filler(), FILLER));
    for _ in 0..PACKETS {
        for (ue, key) in keys.iter().enumerate() {
            let inner = udp4(Ipv4Addr::new(10, 45, 0, 2 + ue as u8), CN4, 64, b"uplink");
            let gre = fastpath_support::gre_keyed(*key, &inner);
            queue0.push(tunnelled(MAG.into(), LMAA.into(), 47, &gre));
        }
    }
    // Everything arrives on rx queue 0 (worker 0), keys of worker 1 too: what RSS on the outer addresses does.
    write_pcap(&s.path("core-in.pcap"), &queue0);
    write_pcap(&s.path("empty.pcap"), &[]);
    let pcap = |name: &str| s.path(name).display().to_string();
    let sections = format!(
        "[[port]]\nname = \"core\"\ndevice = \"net_pcap0\"\n\
         devargs = \"rx_pcap={},rx_pcap={},tx_pcap={},tx_pcap={}\"\n\
         roles = [\"core\"]\nnext_hop_mac = \"02:00:00:00:c0:01\"\n\n\
         [[port]]\nname = \"sgi\"\ndevice = \"net_pcap1\"\n\
         devargs = \"rx_pcap={},rx_pcap={},tx_pcap={},tx_pcap={}\"\n\
         roles = [\"sgi\"]\nnext_hop_mac = \"02:00:00:00:5a:01\"\n\n\
         [api]\nsocket = \"{}\"\n[metrics]\nenabled = false\n\n",
        pcap("core-in.pcap"),
        pcap("empty.pcap"),
        pcap("core-out0.pcap"),
        pcap("core-out1.pcap"),
        pcap("empty.pcap"),
        pcap("empty.pcap"),
        pcap("sgi-out0.pcap"),
        pcap("sgi-out1.pcap"),
        pcap("api.sock"),
    );
    let config = lma_config(&s, 0)
        .replace(&s.lma_pcap_sections(), &sections)
        .replace("instances = 2", "instances = 1")
        .replace("lcores = \"0\"", "lcores = \"0@(0-1),1@(0-1),2@(0-1)\"");
    let config = s.write_config(&config);
    let json = s.path("counters.json");
    let out = run_gateway(&["-c", config.to_str().unwrap(), "--counters-json", json.to_str().unwrap()]);
    let stdout = expect_success(&out);
    let counters = read_json(&json);

    let mut pbas = read_pbas(&s.path("core-out0.pcap"));
    pbas.extend(read_pbas(&s.path("core-out1.pcap")));
    let mut handed: Vec<u32> = pbas.iter().map(|p| p.key).collect();
    handed.sort_unstable();
    assert_eq!(handed, [1, 2, 3, 4], "four keys, two per worker field\n{stdout}");
    assert!(pbas.iter().all(|p| p.status == 0));

    let steering = counters["fastpath"]["steering"].as_array().expect("steering per port");
    let core = steering.iter().find(|p| p["port"] == "core").expect("the core port");
    let how = core["steering"].as_str().unwrap();
    assert!(how.starts_with("rss (rte_flow refused: ") && how.contains("rte_flow_validate"), "{how}");
    println!("core port steering: {how}");
    assert_eq!(steering.iter().find(|p| p["port"] == "sgi").unwrap()["steering"], "none");

    let expected = (4 * PACKETS) as u64;
    let workers = counters["fastpath"]["workers"].as_array().expect("per-worker counters");
    assert_eq!(workers.len(), 2);
    assert_eq!(workers[0]["decapsulated"], expected, "worker 0 forwards worker 1's keys too\n{stdout}");
    assert_eq!(counters["fastpath"]["total"]["decapsulated"], expected);
    let sgi = read_pcap(&s.path("sgi-out0.pcap")).len() + read_pcap(&s.path("sgi-out1.pcap")).len();
    assert_eq!(sgi as u64, expected, "every uplink packet left on sgi");
    assert_eq!(counters["mempool"]["in_use_after_shutdown"], 0, "no mbuf leaked");
}
