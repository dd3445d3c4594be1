//! Shared by the fast-path integration tests: a gateway holding both functions on three net_pcap ports, the
//! addresses and keys of the shared vectors, frame builders (etherparse) and tshark field reading.
#![allow(dead_code)] // each test binary uses its own subset

use crate::common::*;
use etherparse::{IpNumber, PacketBuilder};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const LMAA6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 1);
pub const PCOA6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
pub const LMAA4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
pub const PCOA4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const UE_A4: Ipv4Addr = Ipv4Addr::new(10, 45, 0, 2);
pub const UE_A6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xaaaa, 1, 0, 0, 0, 1);
pub const UE_B4: Ipv4Addr = Ipv4Addr::new(10, 45, 0, 3);
pub const UE_B6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xaaaa, 2, 0, 0, 0, 1);
pub const CN4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 53);
pub const CN6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 1);
pub const UL_A: u32 = 0x0a0b_0c0d;
pub const DL_A: u32 = 0x0001_0001;
pub const UL_B: u32 = 0x0a0b_0c0e;
pub const DL_B: u32 = 0x0001_0002;

pub const PORTS: [&str; 3] = ["core", "sgi", "access"];
pub const NEXT_HOP: [[u8; 6]; 3] = [[2, 0, 0, 0, 0xc0, 1], [2, 0, 0, 0, 0x5a, 1], [2, 0, 0, 0, 0xac, 1]];
pub const PEER_MAC: [u8; 6] = [2, 0, 0, 0, 0x99, 0x99];

/// The input frames of each port, in port order (core, sgi, access).
pub type Inputs = [Vec<Vec<u8>>; 3];

/// What one run of the gateway left behind.
pub struct Run {
    pub scenario: Scenario,
    pub stdout: String,
    pub counters: serde_json::Value,
}

impl Run {
    /// Frames the gateway sent on `port` ("core", "sgi", "access").
    pub fn sent(&self, port: &str) -> Vec<Vec<u8>> {
        read_pcap(&self.tx_pcap(port))
    }
    pub fn tx_pcap(&self, port: &str) -> PathBuf {
        self.scenario.path(&format!("{port}-tx.pcap"))
    }
    /// A fast-path counter of the totals, e.g. `drops.unknown-key` or `decapsulated`.
    pub fn total(&self, path: &str) -> u64 {
        let mut value = &self.counters["fastpath"]["total"];
        for part in path.split('.') {
            value = &value[part];
        }
        value.as_u64().unwrap_or_else(|| panic!("no counter {path} in {}", self.counters["fastpath"]["total"]))
    }
}

/// Runs a gateway with both functions (LMA and MAG, each with UE A tunnelled over IPv6 and UE B over IPv4) on
/// ports core, sgi and access fed with `inputs`; `extra_gateway` adds lines to `[gateway]`, `lcores` sets EAL's.
pub fn run_both_functions(name: &str, inputs: &Inputs, extra_gateway: &str, lcores: &str) -> Run {
    run_both_functions_with_ports(name, inputs, extra_gateway, ["", "", ""], lcores)
}

/// [`run_both_functions`] with `extra_ports[i]` added to port `i`'s section.
pub fn run_both_functions_with_ports(
    name: &str,
    inputs: &Inputs,
    extra_gateway: &str,
    extra_ports: [&str; 3],
    lcores: &str,
) -> Run {
    let scenario = Scenario::new(name);
    let mut config = scenario.dpdk_section().replace("lcores = \"0\"", &format!("lcores = \"{lcores}\""));
    config.push_str(&format!(
        "[gateway]\nlmaa = [\"{LMAA6}\", \"{LMAA4}\"]\nproxy_coa = [\"{PCOA6}\", \"{PCOA4}\"]\ntable_capacity = 1024\n{extra_gateway}\n"
    ));
    for (i, (port, frames)) in PORTS.iter().zip(inputs).enumerate() {
        let rx = scenario.path(&format!("{port}-rx.pcap"));
        write_pcap(&rx, frames);
        let [a, b, c, d, e, f] = NEXT_HOP[i];
        config.push_str(&format!(
            "[[port]]\nname = \"{port}\"\ndevice = \"net_pcap{i}\"\ndevargs = \"rx_pcap={},tx_pcap={}\"\n\
             roles = [\"{port}\"]\nnext_hop_mac = \"{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{f:02x}\"\n{}\n\n",
            rx.display(),
            scenario.path(&format!("{port}-tx.pcap")).display(),
            extra_ports[i]
        ));
    }
    for (function, local6, remote6, local4, remote4) in
        [("lma", LMAA6, PCOA6, LMAA4, PCOA4), ("mag", PCOA6, LMAA6, PCOA4, LMAA4)]
    {
        config.push_str(&binding(function, &local6.to_string(), &remote6.to_string(), UL_A, DL_A, UE_A4, 1));
        config.push_str(&binding(function, &local4.to_string(), &remote4.to_string(), UL_B, DL_B, UE_B4, 2));
    }
    let config_path = scenario.write_config(&config);
    let json = scenario.path("counters.json");
    let out = run_gateway(&["-c", config_path.to_str().unwrap(), "--counters-json", json.to_str().unwrap()]);
    let stdout = expect_success(&out);
    let counters = read_json(&json);
    // Mbuf accounting: everything received, sent, punted or dropped went back to the pool.
    assert_eq!(counters["mempool"]["in_use_after_shutdown"], 0, "no mbuf leaked\n{stdout}");
    assert!(stdout.contains("mempool: 0 of"), "{stdout}");
    Run { scenario, stdout, counters }
}

fn binding(function: &str, local: &str, remote: &str, ul: u32, dl: u32, ue4: Ipv4Addr, prefix: u16) -> String {
    format!(
        "[[binding]]\nfunction = \"{function}\"\nlocal = \"{local}\"\nremote = \"{remote}\"\nuplink_key = {ul}\n\
         downlink_key = {dl}\nue_ipv4 = \"{ue4}\"\nue_ipv6_prefix = \"2001:db8:aaaa:{prefix}::/64\"\n\n"
    )
}

// ---- frame builders ----

pub fn udp4(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ipv4(src.octets(), dst.octets(), ttl).udp(40000, 33333).write(&mut out, payload).unwrap();
    out
}

pub fn udp6(src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ipv6(src.octets(), dst.octets(), hop_limit).udp(40000, 33333).write(&mut out, payload).unwrap();
    out
}

/// A UDP packet between `src` and `dst` (one family), `ttl` as TTL or hop limit.
pub fn udp(src: IpAddr, dst: IpAddr, ttl: u8, payload: &[u8]) -> Vec<u8> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => udp4(s, d, ttl, payload),
        (IpAddr::V6(s), IpAddr::V6(d)) => udp6(s, d, ttl, payload),
        _ => panic!("mixed families"),
    }
}

/// `GRE(flags, protocol) | optional words | inner`.
pub fn gre(flags: u16, protocol: u16, optional: &[u8], inner: &[u8]) -> Vec<u8> {
    let mut out = flags.to_be_bytes().to_vec();
    out.extend_from_slice(&protocol.to_be_bytes());
    out.extend_from_slice(optional);
    out.extend_from_slice(inner);
    out
}

/// Keyed GRE with the protocol type of the inner packet's IP version.
pub fn gre_keyed(key: u32, inner: &[u8]) -> Vec<u8> {
    gre(0x2000, ethertype_of(inner), &key.to_be_bytes(), inner)
}

pub fn ethertype_of(ip: &[u8]) -> u16 {
    if ip[0] >> 4 == 6 {
        0x86dd
    } else {
        0x0800
    }
}

/// An Ethernet frame around an IP packet.
pub fn frame(ip: &[u8]) -> Vec<u8> {
    let mut out = vec![2, 0, 0, 0, 0, 1];
    out.extend_from_slice(&PEER_MAC);
    out.extend_from_slice(&ethertype_of(ip).to_be_bytes());
    out.extend_from_slice(ip);
    out
}

/// An Ethernet frame with an outer IP header (`src` → `dst`, protocol / next header `protocol`) around `payload`.
pub fn tunnelled(src: IpAddr, dst: IpAddr, protocol: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let builder = PacketBuilder::ethernet2(PEER_MAC, [2, 0, 0, 0, 0, 1]);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            builder.ipv4(s.octets(), d.octets(), 64).write(&mut out, IpNumber(protocol), payload)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            builder.ipv6(s.octets(), d.octets(), 64).write(&mut out, IpNumber(protocol), payload)
        }
        _ => panic!("mixed families"),
    }
    .unwrap();
    out
}

/// The shared vectors pcap (testdata/vectors), frame by frame.
pub fn shared_vectors() -> Vec<Vec<u8>> {
    read_pcap(&Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/vectors/pmipv6_vectors.pcap"))
}

/// An IP packet's TTL / hop limit lowered by one, IPv4 checksum recomputed by etherparse: what forwarding must
/// produce.
pub fn forwarded(ip: &[u8]) -> Vec<u8> {
    let mut out = ip.to_vec();
    if ip[0] >> 4 == 6 {
        out[7] -= 1;
    } else {
        let (mut header, _) = etherparse::Ipv4Header::from_slice(ip).unwrap();
        header.time_to_live -= 1;
        header.header_checksum = header.calc_header_checksum();
        let bytes = header.to_bytes();
        out[..bytes.len()].copy_from_slice(&bytes);
    }
    out
}

// ---- tshark ----

/// tshark's reading of `fields` for every frame of `pcap` (IPv4 header checksums validated; GRE checksums tshark
/// always checks), one row per frame, repeated fields joined by ','. Also asserts tshark found nothing malformed and raised no warning or error.
pub fn tshark_fields(pcap: &Path, fields: &[&str]) -> Vec<Vec<String>> {
    let mut args = vec!["-n", "-r", pcap.to_str().unwrap(), "-o", "ip.check_checksum:TRUE"];
    args.extend(["-T", "fields", "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=,"]);
    for field in fields {
        args.extend(["-e", field]);
    }
    let out =
        Command::new("tshark").args(&args).output().expect("tshark is required (deploy/install-deps.sh installs it)");
    assert!(out.status.success(), "tshark: {}", String::from_utf8_lossy(&out.stderr));
    let bad = Command::new("tshark")
        .args([
            "-n",
            "-r",
            pcap.to_str().unwrap(),
            "-o",
            "ip.check_checksum:TRUE",
            "-Y",
            "_ws.malformed || _ws.expert.severity >= warning",
        ])
        .output()
        .expect("tshark");
    assert!(
        bad.stdout.is_empty(),
        "tshark flags frames of {}:\n{}",
        pcap.display(),
        String::from_utf8_lossy(&bad.stdout)
    );
    String::from_utf8(out.stdout).unwrap().lines().map(|line| line.split('\t').map(str::to_owned).collect()).collect()
}
