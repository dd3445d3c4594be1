//! What goes to the control thread, and what addressed to us is dropped instead.

use super::*;

fn icmpv6(src: Ipv6Addr, dst: Ipv6Addr, icmp_type: u8) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ipv6(src.octets(), dst.octets(), 255)
        .icmpv6(etherparse::Icmpv6Type::Unknown { type_u8: icmp_type, code_u8: 0, bytes5to8: [0; 4] })
        .write(&mut out, &[0; 16])
        .unwrap();
    plain(&out)
}

fn udp_to(dst: Ipv4Addr, port: u16) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ipv4(PCOA4.octets(), dst.octets(), 64).udp(port, port).write(&mut out, &[0; 8]).unwrap();
    plain(&out)
}

#[test]
fn signalling_vectors_are_all_punted() {
    let gateway = Gateway::standard();
    // V1–V3, V6, V7, V11 are Mobility Headers over IPv6 to our LMAA / Proxy-CoA; V4, V5 are IPv4-UDP 5436.
    let frames = shared_vector_frames();
    for (index, frame) in frames.iter().enumerate().filter(|(i, _)| ![9, 10, 11].contains(i)) {
        assert_eq!(gateway.run(CORE, frame).0, Verdict::Punt, "vector frame {}", index + 1);
    }
    assert_eq!(gateway.snapshot().punted, 10);
    assert_eq!(gateway.snapshot().total_drops(), 0);
}

#[test]
fn control_traffic_for_our_addresses_is_punted_on_any_port() {
    let gateway = Gateway::standard();
    let solicited_node = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff00, 1);
    let all_routers = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);
    let link_local = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
    let mut mobility_over_v4 = Vec::new();
    PacketBuilder::ipv6(UE_A6.octets(), LMAA6.octets(), 64)
        .write(&mut mobility_over_v4, IpNumber(135), &[59, 0, 0, 0, 0, 0, 0, 0])
        .unwrap();
    let mut echo4 = Vec::new();
    PacketBuilder::ipv4(PCOA4.octets(), LMAA4.octets(), 64).icmpv4_echo_request(1, 1).write(&mut echo4, &[]).unwrap();
    let arp = ethernet(
        0x0806,
        &[0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 0x99, 192, 0, 2, 1, 0, 0, 0, 0, 0, 0, 198, 51, 100, 1],
    );

    let cases: Vec<(&str, PortIndex, Vec<u8>)> = vec![
        ("MH over IPv6", CORE, frame6(PCOA6, LMAA6, 135, &[59, 0, 5, 0, 0, 0, 0, 0])),
        (
            "MH behind a Destination Options header",
            CORE,
            frame6(PCOA6, LMAA6, 60, &[135, 0, 1, 4, 0, 0, 0, 0, 59, 0, 5, 0, 0, 0, 0, 0]),
        ),
        ("UDP 5436 over IPv4", CORE, udp_to(LMAA4, 5436)),
        ("UDP 5436 over IPv6", CORE, {
            let mut out = Vec::new();
            PacketBuilder::ipv6(PCOA6.octets(), LMAA6.octets(), 64).udp(5436, 5436).write(&mut out, &[0; 8]).unwrap();
            plain(&out)
        }),
        ("IPv6 MH in IPv4 (3GPP form)", CORE, frame4(PCOA4, LMAA4, 41, &mobility_over_v4)),
        ("ARP", ACCESS, arp),
        ("NS to solicited-node", SGI, icmpv6(CN6, solicited_node, 135)),
        ("NA to link-local", CORE, icmpv6(link_local, link_local, 136)),
        ("RS to all-routers from a UE", ACCESS, icmpv6(link_local, all_routers, 133)),
        ("ICMPv6 echo request to the LMAA", CORE, icmpv6(PCOA6, LMAA6, 128)),
        ("ICMPv6 echo reply to the Proxy-CoA", CORE, icmpv6(LMAA6, PCOA6, 129)),
        ("ICMP echo request to the IPv4-LMAA", CORE, plain(&echo4)),
    ];
    for (what, port, frame) in &cases {
        let (verdict, packet) = gateway.run(*port, frame);
        assert_eq!(verdict, Verdict::Punt, "{what}");
        assert_eq!(packet.data(), frame.as_slice(), "{what}: punted unchanged");
    }
    assert_eq!(gateway.snapshot().punted, cases.len() as u64);
}

#[test]
fn other_traffic_for_our_addresses_is_dropped_by_reason() {
    let gateway = Gateway::standard();
    let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
    gateway.assert_dropped(CORE, &udp_to(LMAA4, 5437), DropReason::LocalUnsupported);
    gateway.assert_dropped(CORE, &frame4(PCOA4, LMAA4, 6, &[0; 20]), DropReason::LocalUnsupported);
    gateway.assert_dropped(CORE, &frame4(PCOA4, LMAA4, 41, &udp6(UE_A6, CN6, 64)), DropReason::LocalUnsupported);
    gateway.assert_dropped(CORE, &icmpv6(PCOA6, LMAA6, 1), DropReason::LocalUnsupported);
    // Link-scope traffic a router ignores (an MLD report, a ping to all-nodes) has its own reason.
    let mld_report =
        icmpv6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 9), Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x16), 143);
    gateway.assert_dropped(ACCESS, &mld_report, DropReason::LinkScope);
    gateway.assert_dropped(CORE, &icmpv6(PCOA6, all_nodes, 128), DropReason::LinkScope);
    gateway.assert_dropped(ACCESS, &plain(&udp6(UE_A6, all_nodes, 1)), DropReason::LinkScope);
    gateway.assert_dropped(CORE, &frame4(PCOA4, LMAA4, 17, &[0x15, 0x3c]), DropReason::LocalUnsupported);
    // Signalling that is fragmented cannot be read yet.
    let mut fragment = udp_to(LMAA4, 5436);
    fragment[14 + 6] = 0x20;
    fragment[14 + 10..14 + 12].copy_from_slice(&[0, 0]);
    let sum = crate::wire::checksum::checksum(&fragment[14..34]);
    fragment[14 + 10..14 + 12].copy_from_slice(&sum.to_be_bytes());
    gateway.assert_dropped(CORE, &fragment, DropReason::Fragment);
    // Mobility Headers for an address that is not ours are not ours to take.
    gateway.assert_dropped(CORE, &frame6(PCOA6, CN6, 135, &[59, 0, 5, 0, 0, 0, 0, 0]), DropReason::NotOurAddress);
}

#[test]
fn port_addresses_take_neighbour_discovery_and_echo_but_never_tunnels_or_signalling() {
    let gateway_v4 = Ipv4Addr::new(10, 45, 0, 1);
    let sgi_v6 = Ipv6Addr::new(0x2001, 0xdb8, 0x50, 0, 0, 0, 0, 1);
    let config = PipelineConfig { host_addresses: vec![gateway_v4.into(), sgi_v6.into()], ..config() };
    let gateway = Gateway::new(&config, &[lma_a(), mag_a()]);
    // A Neighbor Advertisement answering our solicitation from the SGi address, and pings to both.
    assert_eq!(gateway.run(SGI, &icmpv6(CN6, sgi_v6, 136)).0, Verdict::Punt);
    assert_eq!(gateway.run(SGI, &icmpv6(CN6, sgi_v6, 128)).0, Verdict::Punt);
    let mut echo = Vec::new();
    PacketBuilder::ipv4(UE_A4.octets(), gateway_v4.octets(), 64)
        .icmpv4_echo_request(1, 1)
        .write(&mut echo, &[0; 8])
        .unwrap();
    assert_eq!(gateway.run(ACCESS, &plain(&echo)).0, Verdict::Punt);
    // Not a tunnel end: GRE and signalling to it are refused, not looked up or handed to the procedures.
    let gre = gre_keyed(UL_A, &udp4(UE_A4, CN4, 64));
    gateway.assert_dropped(CORE, &frame4(PCOA4, gateway_v4, 47, &gre), DropReason::LocalUnsupported);
    gateway.assert_dropped(CORE, &udp_to(gateway_v4, 5436), DropReason::LocalUnsupported);
    gateway.assert_dropped(CORE, &frame6(PCOA6, sgi_v6, 135, &[59, 0, 5, 0, 0, 0, 0, 0]), DropReason::LocalUnsupported);
}
