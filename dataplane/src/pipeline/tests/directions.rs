//! Every direction through both functions, over both outer and both inner families, and the shared vectors.

use super::*;
use std::net::IpAddr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    LmaUplink,
    LmaDownlink,
    MagUplink,
    MagDownlink,
}

/// Outer family chooses the UE (A over IPv6, B over IPv4); returns (UE v4, UE v6, uplink key, downlink key,
/// LMAA, Proxy-CoA).
fn ue(outer_v6: bool) -> (Ipv4Addr, Ipv6Addr, u32, u32, IpAddr, IpAddr) {
    if outer_v6 {
        (UE_A4, UE_A6, UL_A, DL_A, LMAA6.into(), PCOA6.into())
    } else {
        (UE_B4, UE_B6, UL_B, DL_B, LMAA4.into(), PCOA4.into())
    }
}

fn tunnelled(src: IpAddr, dst: IpAddr, gre: &[u8]) -> Vec<u8> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => frame4(s, d, 47, gre),
        (IpAddr::V6(s), IpAddr::V6(d)) => frame6(s, d, 47, gre),
        _ => unreachable!("one family per tunnel"),
    }
}

#[test]
fn all_sixteen_role_direction_outer_inner_combinations() {
    let mut checked = 0;
    for dir in [Dir::LmaUplink, Dir::LmaDownlink, Dir::MagUplink, Dir::MagDownlink] {
        for outer_v6 in [false, true] {
            for inner_v6 in [false, true] {
                let gateway = Gateway::standard();
                let (ue4, ue6, ul, dl, lmaa, pcoa) = ue(outer_v6);
                // The inner packet as it arrives (TTL 64) and as it must leave (63, checksum updated).
                let (up_in, down_in) = (from_ue_pkt(inner_v6, ue4, ue6, 64), to_ue_pkt(inner_v6, ue4, ue6, 64));
                let (up_out, down_out) = (from_ue_pkt(inner_v6, ue4, ue6, 63), to_ue_pkt(inner_v6, ue4, ue6, 63));
                let case =
                    format!("{dir:?} outer v{} inner v{}", if outer_v6 { 6 } else { 4 }, if inner_v6 { 6 } else { 4 });

                let (rx_port, input, expected_port) = match dir {
                    Dir::LmaUplink => (CORE, tunnelled(pcoa, lmaa, &gre_keyed(ul, &up_in)), SGI),
                    Dir::LmaDownlink => (SGI, plain(&down_in), CORE),
                    Dir::MagUplink => (ACCESS, plain(&up_in), CORE),
                    Dir::MagDownlink => (CORE, tunnelled(lmaa, pcoa, &gre_keyed(dl, &down_in)), ACCESS),
                };
                let (verdict, output) = gateway.run(rx_port, &input);
                assert_eq!(verdict, Verdict::Forward(expected_port), "{case}");
                let out = output.data();

                let inner_len = match dir {
                    Dir::LmaUplink | Dir::MagDownlink => {
                        let expected_inner = if dir == Dir::LmaUplink { &up_out } else { &down_out };
                        // Decapsulated: a fresh Ethernet header for the next hop, then the inner packet, one hop on.
                        assert_eq!(out, plain_for(expected_port, expected_inner).as_slice(), "{case}");
                        let (src, dst, ttl, _) = decode_ip(&out[14..]);
                        assert_eq!(ttl, 63, "{case}");
                        assert_eq!((src, dst), addresses_of(expected_inner), "{case}");
                        assert_eq!(gateway.snapshot().decapsulated, 1, "{case}");
                        expected_inner.len()
                    }
                    Dir::LmaDownlink | Dir::MagUplink => {
                        let decoded = decode_encapsulated(out);
                        let (expected_src, expected_dst, key, expected_inner) = if dir == Dir::LmaDownlink {
                            (lmaa, pcoa, dl, &down_out)
                        } else {
                            (pcoa, lmaa, ul, &up_out)
                        };
                        assert_eq!(decoded.eth_dst, NEXT_HOP[CORE.get()].0, "{case}");
                        assert_eq!(decoded.eth_src, MAC[CORE.get()].0, "{case}");
                        assert_eq!((decoded.outer_src, decoded.outer_dst), (expected_src, expected_dst), "{case}");
                        assert_eq!(decoded.outer_hop_limit, 64, "{case}: default outer TTL");
                        assert_eq!(decoded.key, key, "{case}");
                        assert_eq!(decoded.protocol, if inner_v6 { 0x86dd } else { 0x0800 }, "{case}");
                        assert_eq!(&decoded.inner, expected_inner, "{case}: inner forwarded one hop, else intact");
                        assert_eq!(decode_ip(&decoded.inner).2, 63, "{case}");
                        assert_eq!(gateway.snapshot().encapsulated, 1, "{case}");
                        expected_inner.len()
                    }
                };

                let binding = if dir == Dir::LmaUplink || dir == Dir::LmaDownlink {
                    gateway.sender.table().by_ue_ipv4(Function::Lma, u32::from(ue4)).unwrap().0
                } else {
                    gateway.sender.table().by_ue_ipv4(Function::Mag, u32::from(ue4)).unwrap().0
                };
                let counted = gateway.fast_path.counters().binding_snapshot(binding).unwrap();
                let uplink = matches!(dir, Dir::LmaUplink | Dir::MagUplink);
                assert_eq!(
                    counted,
                    crate::counters::BindingSnapshot {
                        uplink_packets: u64::from(uplink),
                        uplink_bytes: if uplink { inner_len as u64 } else { 0 },
                        downlink_packets: u64::from(!uplink),
                        downlink_bytes: if uplink { 0 } else { inner_len as u64 },
                    },
                    "{case}"
                );
                let snapshot = gateway.snapshot();
                assert_eq!(snapshot.ports[rx_port.get()].rx_packets, 1, "{case}");
                assert_eq!(snapshot.ports[rx_port.get()].rx_bytes, input.len() as u64, "{case}");
                assert_eq!(snapshot.total_drops(), 0, "{case}");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 16);
}

fn from_ue_pkt(v6: bool, ue4: Ipv4Addr, ue6: Ipv6Addr, ttl: u8) -> Vec<u8> {
    if v6 {
        udp6(ue6, CN6, ttl)
    } else {
        udp4(ue4, CN4, ttl)
    }
}

fn to_ue_pkt(v6: bool, ue4: Ipv4Addr, ue6: Ipv6Addr, ttl: u8) -> Vec<u8> {
    if v6 {
        udp6(CN6, ue6, ttl)
    } else {
        udp4(CN4, ue4, ttl)
    }
}

fn addresses_of(ip: &[u8]) -> (IpAddr, IpAddr) {
    let (src, dst, _, _) = decode_ip(ip);
    (src, dst)
}

/// The frame a decapsulated packet leaves port `port` as.
fn plain_for(port: PortIndex, ip: &[u8]) -> Vec<u8> {
    let mut frame = plain(ip);
    frame[..6].copy_from_slice(&NEXT_HOP[port.get()].0);
    frame[6..12].copy_from_slice(&MAC[port.get()].0);
    frame
}

#[test]
fn shared_vector_v8_is_mag_downlink_to_ue_a() {
    let v8 = &shared_vector_frames()[9];
    let gateway = Gateway::standard();
    let (verdict, output) = gateway.run(CORE, v8);
    assert_eq!(verdict, Verdict::Forward(ACCESS));
    // V8's inner packet is an ICMPv6 echo CN → UE A with hop limit 63; we forward it once more.
    let mut expected_inner = v8[14 + 40 + 8..].to_vec();
    expected_inner[7] = 62;
    assert_eq!(output.data(), plain_for(ACCESS, &expected_inner).as_slice());
    let sliced = etherparse::SlicedPacket::from_ethernet(output.data()).unwrap();
    let Some(etherparse::TransportSlice::Icmpv6(icmp)) = sliced.transport else { panic!("ICMPv6 inside") };
    let Some(etherparse::NetSlice::Ipv6(ip)) = sliced.net else { panic!("IPv6 inside") };
    assert!(icmp.is_checksum_valid(ip.header().source(), ip.header().destination()), "payload intact");
}

#[test]
fn shared_vectors_v9_and_v10_are_lma_uplink_by_key_alone() {
    let frames = shared_vector_frames();
    // V9 and V10 come over IPv4 while UE A's binding has an IPv6 tunnel: the LMA demultiplexes by uplink key only
    // and does not check the outer source (TS 29.275 §6.3).
    for (name, frame) in [("V9", &frames[10]), ("V10 (C, K, S)", &frames[11])] {
        let gateway = Gateway::standard();
        let (verdict, output) = gateway.run(CORE, frame);
        assert_eq!(verdict, Verdict::Forward(SGI), "{name}");
        assert_eq!(output.data(), plain_for(SGI, &udp_like_v9_with_ttl(&frames[10], 63)).as_slice(), "{name}");
        let sliced = etherparse::SlicedPacket::from_ethernet(output.data()).unwrap();
        let Some(etherparse::TransportSlice::Udp(udp)) = sliced.transport else { panic!("{name}: UDP inside") };
        assert_eq!(udp.payload(), b"hello-pmip", "{name}");
        assert_eq!(decode_ip(&output.data()[14..]).2, 63, "{name}");
    }
}

/// V9's inner IPv4 packet with its TTL (and so its checksum) changed, computed by etherparse.
fn udp_like_v9_with_ttl(v9: &[u8], ttl: u8) -> Vec<u8> {
    let inner = &v9[14 + 20 + 8..];
    let (mut header, rest) = etherparse::Ipv4Header::from_slice(inner).unwrap();
    header.time_to_live = ttl;
    header.header_checksum = header.calc_header_checksum();
    let mut out = header.to_bytes().to_vec();
    out.extend_from_slice(rest);
    out
}

#[test]
fn ecn_is_copied_on_encapsulation_and_follows_rfc_6040_on_decapsulation() {
    let gateway = Gateway::standard();
    // Encapsulation (RFC 3168 §9.1.1 full functionality): ECT copied, CE becomes ECT(0), Not-ECT stays.
    for (inner_ecn, outer_ecn) in [(0b00, 0b00), (0b01, 0b01), (0b10, 0b10), (0b11, 0b10)] {
        for outer_v6 in [false, true] {
            let (ue4, ..) = ue(outer_v6);
            let mut ip = udp4(CN4, ue4, 64);
            with_ipv4_ecn(&mut ip, inner_ecn);
            let (verdict, output) = gateway.run(SGI, &plain(&ip));
            assert_eq!(verdict, Verdict::Forward(CORE));
            let decoded = decode_encapsulated(output.data());
            assert_eq!(decoded.outer_ecn, outer_ecn, "inner {inner_ecn:02b} outer v6 {outer_v6}");
            assert_eq!(decode_ip(&decoded.inner).3, inner_ecn, "inner unchanged");
        }
    }
    // Decapsulation (RFC 6040 §4.2): outer CE marks an ECT inner packet CE (with a valid IPv4 checksum), outer
    // ECT(1) turns inner ECT(0) into ECT(1), CE over Not-ECT is dropped; otherwise the inner field is unchanged.
    let (not_ect, ect1, ect0, ce) = (0b00, 0b01, 0b10, 0b11);
    for (inner_ecn, outcomes) in [
        (not_ect, [Some(not_ect), Some(not_ect), Some(not_ect), None]),
        (ect1, [Some(ect1), Some(ect1), Some(ect1), Some(ce)]),
        (ect0, [Some(ect0), Some(ect1), Some(ect0), Some(ce)]),
        (ce, [Some(ce), Some(ce), Some(ce), Some(ce)]),
    ] {
        for (outer_ecn, expected) in [not_ect, ect1, ect0, ce].into_iter().zip(outcomes) {
            let mut inner = udp4(UE_B4, CN4, 64);
            with_ipv4_ecn(&mut inner, inner_ecn);
            let mut frame = frame4(PCOA4, LMAA4, 47, &gre_keyed(UL_B, &inner));
            with_ipv4_ecn(&mut frame[14..], outer_ecn);

            let mut inner6 = udp6(UE_A6, CN6, 64);
            inner6[1] = (inner6[1] & !0x30) | (inner_ecn << 4);
            let mut frame6_ = frame6(PCOA6, LMAA6, 47, &gre_keyed(UL_A, &inner6));
            frame6_[15] = (frame6_[15] & !0x30) | (outer_ecn << 4);

            for frame in [frame, frame6_] {
                let what = format!("outer {outer_ecn:02b} inner {inner_ecn:02b} ({} bytes)", frame.len());
                match expected {
                    Some(expected) => {
                        let (verdict, output) = gateway.run(CORE, &frame);
                        assert_eq!(verdict, Verdict::Forward(SGI), "{what}");
                        assert_eq!(decode_ip(&output.data()[14..]).3, expected, "{what}");
                    }
                    None => gateway.assert_dropped(CORE, &frame, DropReason::CeOnNotEct),
                }
            }
        }
    }
}

/// Sets the ECN bits of an IPv4 header and recomputes its checksum with etherparse.
fn with_ipv4_ecn(ip: &mut [u8], ecn: u8) {
    let (mut header, _) = etherparse::Ipv4Header::from_slice(ip).unwrap();
    header.ecn = etherparse::Ipv4Ecn::try_new(ecn).unwrap();
    header.header_checksum = header.calc_header_checksum();
    let bytes = header.to_bytes();
    ip[..bytes.len()].copy_from_slice(&bytes);
}

#[test]
fn outer_ttl_is_configurable_and_ipv4_checksum_can_be_left_to_the_nic() {
    let mut config = config();
    config.outer_hop_limit = 17;
    config.ports[CORE.get()].tx_ipv4_checksum_offload = true;
    let gateway = Gateway::new(&config, &[lma_a(), lma_b()]);
    let (verdict, output) = gateway.run(SGI, &plain(&udp4(CN4, UE_B4, 64)));
    assert_eq!(verdict, Verdict::Forward(CORE));
    assert_eq!(output.tx_ipv4_checksum_requested, Some((14, 20)), "offload requested for the outer header");
    assert_eq!(&output.data()[14 + 10..14 + 12], &[0, 0], "checksum field left zero for the NIC");
    assert_eq!(output.data()[14 + 8], 17);

    let (verdict, output) = gateway.run(SGI, &plain(&udp6(CN6, UE_A6, 64)));
    assert_eq!(verdict, Verdict::Forward(CORE));
    assert_eq!(decode_encapsulated(output.data()).outer_hop_limit, 17);
    assert_eq!(output.tx_ipv4_checksum_requested, None, "nothing to offload over IPv6");
}

#[test]
fn ethernet_padding_is_not_carried_into_the_tunnel_or_out_of_it() {
    let gateway = Gateway::standard();
    // A 42-byte IPv4/UDP packet padded to the 60-byte Ethernet minimum.
    let mut small = Vec::new();
    PacketBuilder::ipv4(CN4.octets(), UE_B4.octets(), 64).udp(1, 2).write(&mut small, &[0xab; 2]).unwrap();
    let mut frame = plain(&small);
    frame.resize(60, 0);
    let (verdict, output) = gateway.run(SGI, &frame);
    assert_eq!(verdict, Verdict::Forward(CORE));
    assert_eq!(output.data().len(), 14 + 28 + small.len());
    assert_eq!(decode_encapsulated(output.data()).inner.len(), small.len());

    let mut tunnelled = frame4(PCOA4, LMAA4, 47, &gre_keyed(UL_B, &udp4(UE_B4, CN4, 64)));
    tunnelled.extend_from_slice(&[0; 8]);
    let (verdict, output) = gateway.run(CORE, &tunnelled);
    assert_eq!(verdict, Verdict::Forward(SGI));
    assert_eq!(output.data(), plain_for(SGI, &udp4(UE_B4, CN4, 63)).as_slice());
}

#[test]
fn lma_uplink_is_accepted_from_any_mag_address() {
    let gateway = Gateway::standard();
    let elsewhere = Ipv6Addr::new(0x2001, 0xdb8, 0x77, 0, 0, 0, 0, 9);
    let frame = frame6(elsewhere, LMAA6, 47, &gre_keyed(UL_A, &udp4(UE_A4, CN4, 64)));
    assert_eq!(gateway.run(CORE, &frame).0, Verdict::Forward(SGI));
}

#[test]
fn mag_uplink_works_with_only_an_uplink_key_and_waits_for_one_otherwise() {
    // TS 29.275 §6.2: the uplink key may come from the MME before any PBA.
    let uplink_only = Binding { downlink_key: None, ..mag_a() };
    let gateway = Gateway::new(&config(), &[uplink_only]);
    let (verdict, output) = gateway.run(ACCESS, &plain(&udp6(UE_A6, CN6, 64)));
    assert_eq!(verdict, Verdict::Forward(CORE));
    assert_eq!(decode_encapsulated(output.data()).key, UL_A);

    let downlink_only = Binding { uplink_key: None, ..mag_a() };
    let gateway = Gateway::new(&config(), &[downlink_only]);
    gateway.assert_dropped(ACCESS, &plain(&udp6(UE_A6, CN6, 64)), DropReason::NoUplinkKey);
    let frame = frame6(LMAA6, PCOA6, 47, &gre_keyed(DL_A, &udp6(CN6, UE_A6, 64)));
    assert_eq!(gateway.run(CORE, &frame).0, Verdict::Forward(ACCESS), "downlink already works");
}

#[test]
fn inner_ipv4_options_survive_forwarding() {
    let gateway = Gateway::standard();
    let mut header = etherparse::Ipv4Header::new(4, 64, IpNumber(253), UE_B4.octets(), CN4.octets()).unwrap();
    header.options = etherparse::Ipv4Options::try_from(&[0x01u8, 0x01, 0x01, 0x00][..]).unwrap();
    header.set_payload_len(4).unwrap();
    header.header_checksum = header.calc_header_checksum();
    let mut inner = header.to_bytes().to_vec();
    inner.extend_from_slice(&[1, 2, 3, 4]);
    let (verdict, output) = gateway.run(CORE, &frame4(PCOA4, LMAA4, 47, &gre_keyed(UL_B, &inner)));
    assert_eq!(verdict, Verdict::Forward(SGI));
    let (.., ttl, _) = decode_ip(&output.data()[14..]);
    assert_eq!(ttl, 63);
    assert_eq!(&output.data()[14 + 20..14 + 24], &[1, 1, 1, 0], "options kept");
}

#[test]
fn a_one_armed_port_carries_core_and_sgi() {
    let mut config = config();
    config.ports.truncate(1);
    config.ports[0].roles = Roles { core: true, sgi: true, access: false };
    let gateway = Gateway::new(&config, &[lma_a()]);
    let (verdict, _) = gateway.run(PortIndex(0), &frame6(PCOA6, LMAA6, 47, &gre_keyed(UL_A, &udp6(UE_A6, CN6, 64))));
    assert_eq!(verdict, Verdict::Forward(PortIndex(0)));
    let (verdict, output) = gateway.run(PortIndex(0), &plain(&udp6(CN6, UE_A6, 64)));
    assert_eq!(verdict, Verdict::Forward(PortIndex(0)));
    assert_eq!(decode_encapsulated(output.data()).key, DL_A);
    // GRE for an address that is not ours is then transit traffic for the sgi side, without a binding.
    let stray = frame6(PCOA6, CN6, 47, &gre_keyed(UL_A, &udp6(UE_A6, CN6, 64)));
    gateway.assert_dropped(PortIndex(0), &stray, DropReason::NoBinding);
}

#[test]
fn a_burst_gets_the_same_verdicts_as_single_packets() {
    let gateway = Gateway::standard();
    let frames = [
        plain(&udp4(CN4, UE_A4, 64)),
        plain(&udp6(CN6, UE_B6, 64)),
        plain(&udp4(CN4, Ipv4Addr::new(10, 99, 0, 1), 64)),
        plain(&udp4(CN4, UE_B4, 1)),
    ];
    let mut packets: Vec<VecPacket> = frames.iter().map(|f| VecPacket::new(f)).collect();
    let mut nexts = [Next::PUNT; 4];
    gateway.fast_path.process_burst(SGI, &mut packets, &mut nexts);
    assert_eq!(
        nexts.map(Next::verdict),
        [
            Verdict::Forward(CORE),
            Verdict::Forward(CORE),
            Verdict::Drop(DropReason::NoBinding),
            Verdict::Drop(DropReason::TtlExpired)
        ]
    );
    let single = Gateway::standard();
    for (frame, packet) in frames.iter().zip(&packets) {
        assert_eq!(single.run(SGI, frame).1.data(), packet.data());
    }
    let snapshot = gateway.snapshot();
    assert_eq!(snapshot.ports[SGI.get()].rx_packets, 4);
    assert_eq!(snapshot.encapsulated + snapshot.punted + snapshot.total_drops(), 4, "every packet accounted once");
}

/// RFC 2983: by default the outer header carries the inner DSCP (the uniform model), with the ECN rules on top;
/// a fixed `outer_dscp` (the pipe model) puts its value on every outer header. Decapsulation leaves the inner
/// DSCP alone.
#[test]
fn the_outer_dscp_copies_the_inner_one_or_is_fixed() {
    let (copying, fixed) = (Gateway::standard(), {
        let mut config = config();
        config.ports[CORE.get()].outer_dscp = OuterDscp::Fixed(10);
        Gateway::new(&config, &[lma_a(), lma_b(), mag_a(), mag_b()])
    });
    for dscp in [0u8, 10, 46, 63] {
        for ecn in [0b00, 0b01, 0b11] {
            let tos = (dscp << 2) | ecn;
            let mut v4 = udp4(CN4, UE_B4, 64);
            let (mut header, _) = etherparse::Ipv4Header::from_slice(&v4).unwrap();
            header.dscp = etherparse::Ipv4Dscp::try_new(dscp).unwrap();
            header.ecn = etherparse::Ipv4Ecn::try_new(ecn).unwrap();
            header.header_checksum = header.calc_header_checksum();
            v4[..20].copy_from_slice(&header.to_bytes());
            let mut v6 = udp6(CN6, UE_A6, 64);
            v6[0] = 0x60 | (tos >> 4);
            v6[1] = (v6[1] & 0x0f) | (tos << 4);
            // UE B's tunnel is over IPv4, UE A's over IPv6: the inner family does not matter.
            for (inner, outer_v6) in [(&v4, false), (&v6, true)] {
                let what = format!("DSCP {dscp} ECN {ecn:02b} outer IPv{}", if outer_v6 { 6 } else { 4 });
                let outer_ecn = if ecn == 0b11 { 0b10 } else { ecn };
                let (verdict, output) = copying.run(SGI, &plain(inner));
                assert_eq!(verdict, Verdict::Forward(CORE), "{what}");
                let decoded = decode_encapsulated(output.data());
                assert_eq!((decoded.outer_dscp, decoded.outer_ecn), (dscp, outer_ecn), "copied: {what}");
                let (verdict, output) = fixed.run(SGI, &plain(inner));
                assert_eq!(verdict, Verdict::Forward(CORE), "{what}");
                let decoded = decode_encapsulated(output.data());
                assert_eq!((decoded.outer_dscp, decoded.outer_ecn), (10, outer_ecn), "fixed: {what}");
                assert_eq!(decoded.inner[1] & 0xfc, inner[1] & 0xfc, "the inner header keeps its own");
            }
        }
    }
    // Back through the tunnel, the inner DSCP arrives as it was sent.
    let mut inner = udp4(UE_B4, CN4, 64);
    let (mut header, _) = etherparse::Ipv4Header::from_slice(&inner).unwrap();
    header.dscp = etherparse::Ipv4Dscp::try_new(46).unwrap();
    header.header_checksum = header.calc_header_checksum();
    inner[..20].copy_from_slice(&header.to_bytes());
    let (verdict, output) = fixed.run(CORE, &frame4(PCOA4, LMAA4, 47, &gre_keyed(UL_B, &inner)));
    assert_eq!(verdict, Verdict::Forward(SGI));
    assert_eq!(output.data()[14 + 1] >> 2, 46);
}
