//! Golden test: the real gateway on net_pcap ports answers plain packets that cannot go into their tunnel with
//! ICMP errors out of the port they came in on — Fragmentation Needed / Packet Too Big with the tunnel MTU, Time
//! Exceeded — and tshark reads type, code, MTU, addresses and every checksum as we mean them.

mod common;
mod fastpath_support;

use fastpath_support::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const SGI4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
const SGI6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x50, 0, 0, 0, 0, 1);
const ACCESS4: Ipv4Addr = Ipv4Addr::new(10, 45, 0, 1);
const ACCESS6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xaaaa, 0, 0, 0, 0, 1);

/// A UDP packet of `len` bytes in all; IPv4 with DF.
fn sized(src: IpAddr, dst: IpAddr, ttl: u8, len: usize) -> Vec<u8> {
    let overhead = if src.is_ipv4() { 28 } else { 48 };
    let mut ip = udp(src, dst, ttl, &vec![0x33; len - overhead]);
    if src.is_ipv4() {
        let (mut header, _) = etherparse::Ipv4Header::from_slice(&ip).unwrap();
        header.dont_fragment = true;
        header.header_checksum = header.calc_header_checksum();
        ip[..20].copy_from_slice(&header.to_bytes());
    }
    ip
}

const FIELDS: [&str; 13] = [
    "ip.src",
    "ip.dst",
    "ipv6.src",
    "ipv6.dst",
    "icmp.type",
    "icmp.code",
    "icmp.mtu",
    "icmp.checksum.status",
    "icmpv6.type",
    "icmpv6.code",
    "icmpv6.mtu",
    "icmpv6.checksum.status",
    "ip.checksum.status",
];

#[test]
fn errors_for_packets_too_big_for_their_tunnel_or_at_the_end_of_their_ttl() {
    let (cn4, cn6): (IpAddr, IpAddr) = (CN4.into(), CN6.into());
    let inputs: Inputs = [
        // Through the tunnel from UE B (over IPv4) with TTL 1: traceroute's first hop.
        vec![tunnelled(PCOA4.into(), LMAA4.into(), 47, &gre_keyed(UL_B, &sized(UE_B4.into(), cn4, 1, 100)))],
        vec![
            // To UE A (tunnel over IPv6, 48 bytes): 1452 fit.
            frame(&sized(cn4, UE_A4.into(), 64, 1480)),
            frame(&sized(cn6, UE_A6.into(), 64, 1500)),
            frame(&sized(cn4, UE_B4.into(), 1, 100)),
        ],
        vec![
            // From UE B (tunnel over IPv4, 28 bytes): 1472 fit.
            frame(&sized(UE_B4.into(), cn4, 64, 1500)),
            frame(&sized(UE_A6.into(), cn6, 1, 100)),
        ],
    ];
    let sources = |v4: Ipv4Addr, v6: Ipv6Addr| format!("addresses = [\"{v4}\", \"{v6}\"]");
    let ports = ["".to_string(), sources(SGI4, SGI6), sources(ACCESS4, ACCESS6)];
    let run = run_both_functions_with_ports("icmp", &inputs, "", [&ports[0], &ports[1], &ports[2]], "0");

    let row = |ip: [&str; 4], icmp: [&str; 4], icmpv6: [&str; 4], ip_checksum: &str| -> Vec<String> {
        ip.iter().chain(&icmp).chain(&icmpv6).chain([&ip_checksum]).map(|s| s.to_string()).collect()
    };
    let none = ["", "", "", ""];
    let (sgi4, sgi6, access4, access6) = (SGI4.to_string(), SGI6.to_string(), ACCESS4.to_string(), ACCESS6.to_string());
    let (cn4s, cn6s, ue_b4, ue_a6) = (CN4.to_string(), CN6.to_string(), UE_B4.to_string(), UE_A6.to_string());
    // tshark shows the quoted packet's fields too (",..." after ours): the quote's addresses are the original's.
    let sgi = tshark_fields(&run.tx_pcap("sgi"), &FIELDS);
    assert_eq!(sgi.len(), 3, "{}", run.stdout);
    assert_eq!(first_of_each(&sgi[0]), row([&sgi4, &cn4s, "", ""], ["3", "4", "1452", "1"], none, "1"));
    assert_eq!(first_of_each(&sgi[1]), row(["", "", &sgi6, &cn6s], none, ["2", "0", "1452", "1"], ""));
    assert_eq!(first_of_each(&sgi[2]), row([&sgi4, &cn4s, "", ""], ["11", "0", "", "1"], none, "1"));
    let access = tshark_fields(&run.tx_pcap("access"), &FIELDS);
    assert_eq!(access.len(), 2, "{}", run.stdout);
    assert_eq!(first_of_each(&access[0]), row([&access4, &ue_b4, "", ""], ["3", "4", "1472", "1"], none, "1"));
    assert_eq!(first_of_each(&access[1]), row(["", "", &access6, &ue_a6], none, ["3", "0", "", "1"], ""));
    // The frames go to the neighbour they came from, from the port's own MAC.
    for frame in run.sent("sgi").iter().chain(&run.sent("access")) {
        assert_eq!(frame[..6], PEER_MAC);
    }
    // The error about the tunnelled packet goes back into UE B's tunnel with its downlink key: tshark reads the
    // outer header, the error's, then the quoted packet's.
    let core = tshark_fields(&run.tx_pcap("core"), &["ip.src", "ip.dst", "gre.key", "icmp.type", "icmp.code"]);
    let (lmaa4, pcoa4) = (LMAA4.to_string(), PCOA4.to_string());
    assert_eq!(
        core,
        vec![vec![
            format!("{lmaa4},{sgi4},{ue_b4}"),
            format!("{pcoa4},{ue_b4},{cn4s}"),
            format!("0x{DL_B:08x}"),
            "11".to_string(),
            "0".to_string(),
        ]],
        "{}",
        run.stdout
    );
    assert_eq!(run.total("icmp_errors_sent"), 6);
    assert_eq!((run.total("drops.over-mtu"), run.total("drops.ttl-expired")), (3, 3));
}

/// The first of each field's values (tshark lists the quoted packet's after ours).
fn first_of_each(row: &[String]) -> Vec<String> {
    row.iter().map(|value| value.split(',').next().unwrap_or_default().to_string()).collect()
}
