//! Hostile and broken inputs: each is dropped, counted under its reason, and nothing panics.

use super::*;

/// A valid LMA uplink frame for UE B over IPv4, with the GRE header given.
fn uplink4_with_gre(flags: u16, protocol: u16, optional: &[u8]) -> Vec<u8> {
    frame4(PCOA4, LMAA4, 47, &gre_raw(flags, protocol, optional, &udp4(UE_B4, CN4, 64)))
}

#[test]
fn truncation_anywhere_in_a_frame_is_a_malformed_outer_header() {
    let gateway = Gateway::standard();
    // The length fields promise more than is there: the outer header is where it shows.
    let cases = [
        (
            CORE,
            frame4(PCOA4, LMAA4, 47, &gre_raw(0xb000, 0x0800, &[0; 12], &udp4(UE_B4, CN4, 64))),
            DropReason::Ipv4Malformed,
        ),
        (CORE, frame6(PCOA6, LMAA6, 47, &gre_keyed(UL_A, &udp6(UE_A6, CN6, 64))), DropReason::Ipv6Malformed),
        (SGI, plain(&udp4(CN4, UE_B4, 64)), DropReason::Ipv4Malformed),
        (ACCESS, plain(&udp6(UE_A6, CN6, 64)), DropReason::Ipv6Malformed),
    ];
    for (port, frame, reason) in cases {
        for len in 0..frame.len() {
            let expected = if len < 14 { DropReason::EthernetTruncated } else { reason };
            gateway.assert_dropped(port, &frame[..len], expected);
        }
    }
}

#[test]
fn truncation_at_every_gre_and_inner_boundary_with_consistent_outer_lengths() {
    let gateway = Gateway::standard();
    let inner4 = udp4(UE_B4, CN4, 64);
    let inner6 = udp6(UE_A6, CN6, 64);
    // GRE with C, K and S: cut inside the header; outer lengths describe what is left, so GRE is what is short.
    let full_header = gre_raw(0xb000, 0x0800, &[0, 0, 0, 0, 0x0a, 0x0b, 0x0c, 0x0e, 0, 0, 0, 0], &[]);
    for len in 0..full_header.len() {
        gateway.assert_dropped(CORE, &frame4(PCOA4, LMAA4, 47, &full_header[..len]), DropReason::GreMalformed);
        gateway.assert_dropped(CORE, &frame6(PCOA6, LMAA6, 47, &full_header[..len]), DropReason::GreMalformed);
    }
    // Keyed GRE complete, inner packet cut anywhere (header or payload): the inner packet is malformed.
    for (outer_v6, inner) in [(false, &inner4), (true, &inner4), (false, &inner6), (true, &inner6)] {
        let key = if outer_v6 { UL_A } else { UL_B };
        let tunnelled = gre_keyed(key, inner);
        for len in 8..tunnelled.len() {
            let frame = if outer_v6 {
                frame6(PCOA6, LMAA6, 47, &tunnelled[..len])
            } else {
                frame4(PCOA4, LMAA4, 47, &tunnelled[..len])
            };
            // UE A's inner source for the v4 inner packet is UE B's address: keep the check from firing first.
            gateway.assert_dropped(CORE, &frame, DropReason::InnerMalformed);
        }
    }
}

#[test]
fn gre_version_and_must_be_zero_bits() {
    let gateway = Gateway::standard();
    let key = UL_B.to_be_bytes();
    gateway.assert_dropped(CORE, &uplink4_with_gre(0x2001, 0x0800, &key), DropReason::GreVersion);
    gateway.assert_dropped(CORE, &uplink4_with_gre(0x2007, 0x0800, &key), DropReason::GreVersion);
    for bit in [0x4000, 0x0800, 0x0400] {
        gateway.assert_dropped(CORE, &uplink4_with_gre(0x2000 | bit, 0x0800, &key), DropReason::GreReservedBits);
    }
    // Bits 6–12 are ignored on receipt (RFC 2784 §2.3).
    assert_eq!(gateway.run(CORE, &uplink4_with_gre(0x23f8, 0x0800, &key)).0, Verdict::Forward(SGI));
}

#[test]
fn gre_key_protocol_and_checksum_rules() {
    let gateway = Gateway::standard();
    gateway.assert_dropped(CORE, &uplink4_with_gre(0x0000, 0x0800, &[]), DropReason::GreNoKey);
    gateway.assert_dropped(CORE, &uplink4_with_gre(0x1000, 0x0800, &[0; 4]), DropReason::GreNoKey);
    gateway.assert_dropped(CORE, &uplink4_with_gre(0x2000, 0x8847, &UL_B.to_be_bytes()), DropReason::GreProtocol);
    gateway.assert_dropped(
        CORE,
        &uplink4_with_gre(0x2000, 0x0800, &0xdead_beefu32.to_be_bytes()),
        DropReason::UnknownKey,
    );
    // The protocol type must match what is inside.
    let v6_inside_labelled_v4 =
        frame4(PCOA4, LMAA4, 47, &gre_raw(0x2000, 0x0800, &UL_A.to_be_bytes(), &udp6(UE_A6, CN6, 64)));
    gateway.assert_dropped(CORE, &v6_inside_labelled_v4, DropReason::InnerMalformed);

    // C set: a correct checksum is accepted, a wrong one dropped; S is skipped.
    let inner = udp4(UE_B4, CN4, 64);
    let mut gre = gre_raw(0xb000, 0x0800, &[0, 0, 0, 0, 0x0a, 0x0b, 0x0c, 0x0e, 0, 0, 0, 7], &inner);
    let sum = crate::wire::checksum::checksum(&gre);
    gre[4..6].copy_from_slice(&sum.to_be_bytes());
    assert_eq!(gateway.run(CORE, &frame4(PCOA4, LMAA4, 47, &gre)).0, Verdict::Forward(SGI));
    gre[4] ^= 0x01;
    gateway.assert_dropped(CORE, &frame4(PCOA4, LMAA4, 47, &gre), DropReason::GreChecksum);
    let mut shared_v10 = shared_vector_frames()[11].clone();
    *shared_v10.last_mut().unwrap() ^= 0x20; // payload corruption the GRE checksum catches
    gateway.assert_dropped(CORE, &shared_v10, DropReason::GreChecksum);
}

#[test]
fn keys_belong_to_their_function_and_downlink_keys_to_their_lmaa() {
    let gateway = Gateway::standard();
    // A downlink key sent to an LMAA is not an uplink key.
    gateway.assert_dropped(
        CORE,
        &frame6(PCOA6, LMAA6, 47, &gre_keyed(DL_A, &udp6(UE_A6, CN6, 64))),
        DropReason::UnknownKey,
    );
    // UE A's downlink key from an LMA that did not choose it.
    let other_lma = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 2);
    gateway.assert_dropped(
        CORE,
        &frame6(other_lma, PCOA6, 47, &gre_keyed(DL_A, &udp6(CN6, UE_A6, 64))),
        DropReason::UnknownKey,
    );
    // UE B's IPv4 LMAA with UE A's key: (LMAA, key) does not match.
    gateway.assert_dropped(
        CORE,
        &frame4(LMAA4, PCOA4, 47, &gre_keyed(DL_A, &udp4(CN4, UE_A4, 64))),
        DropReason::UnknownKey,
    );
}

#[test]
fn wrong_outer_destination_and_gre_off_the_core_port() {
    let gateway = Gateway::standard();
    let stranger = Ipv4Addr::new(198, 51, 100, 99);
    gateway.assert_dropped(
        CORE,
        &frame4(PCOA4, stranger, 47, &gre_keyed(UL_B, &udp4(UE_B4, CN4, 64))),
        DropReason::NotOurAddress,
    );
    gateway.assert_dropped(CORE, &plain(&udp6(CN6, UE_A6, 64)), DropReason::NotOurAddress);
    // GRE to our address arriving where no tunnel ends.
    gateway.assert_dropped(
        SGI,
        &frame4(PCOA4, LMAA4, 47, &gre_keyed(UL_B, &udp4(UE_B4, CN4, 64))),
        DropReason::LocalUnsupported,
    );
}

#[test]
fn bad_ipv4_checksums_outer_by_software_or_nic_and_inner() {
    let gateway = Gateway::standard();
    let good = frame4(PCOA4, LMAA4, 47, &gre_keyed(UL_B, &udp4(UE_B4, CN4, 64)));
    let mut bad = good.clone();
    bad[14 + 10] ^= 0xff;
    gateway.assert_dropped(CORE, &bad, DropReason::Ipv4Checksum);
    gateway.assert_dropped(
        SGI,
        &{
            let mut f = plain(&udp4(CN4, UE_B4, 64));
            f[14 + 11] ^= 1;
            f
        },
        DropReason::Ipv4Checksum,
    );

    // The NIC's verdict replaces the software check when it has one.
    let mut nic_bad = VecPacket::new(&good);
    nic_bad.rx_checksum = crate::packet::RxChecksum::Bad;
    assert_eq!(gateway.run_packet(CORE, nic_bad).0, Verdict::Drop(DropReason::Ipv4Checksum));
    let mut nic_good = VecPacket::new(&bad);
    nic_good.rx_checksum = crate::packet::RxChecksum::Good;
    assert_eq!(gateway.run_packet(CORE, nic_good).0, Verdict::Forward(SGI));

    let mut inner = udp4(UE_B4, CN4, 64);
    inner[10] ^= 0x10;
    gateway.assert_dropped(CORE, &frame4(PCOA4, LMAA4, 47, &gre_keyed(UL_B, &inner)), DropReason::InnerMalformed);
}

#[test]
fn ttl_one_expires_in_every_direction_and_two_still_forwards() {
    let gateway = Gateway::standard();
    type Build = fn(u8) -> Vec<u8>;
    let cases: [(PortIndex, Build, PortIndex); 8] = [
        (CORE, |t| frame4(PCOA4, LMAA4, 47, &gre_keyed(UL_B, &udp4(UE_B4, CN4, t))), SGI),
        (CORE, |t| frame6(PCOA6, LMAA6, 47, &gre_keyed(UL_A, &udp6(UE_A6, CN6, t))), SGI),
        (CORE, |t| frame4(LMAA4, PCOA4, 47, &gre_keyed(DL_B, &udp4(CN4, UE_B4, t))), ACCESS),
        (CORE, |t| frame6(LMAA6, PCOA6, 47, &gre_keyed(DL_A, &udp6(CN6, UE_A6, t))), ACCESS),
        (SGI, |t| plain(&udp4(CN4, UE_B4, t)), CORE),
        (SGI, |t| plain(&udp6(CN6, UE_A6, t)), CORE),
        (ACCESS, |t| plain(&udp4(UE_A4, CN4, t)), CORE),
        (ACCESS, |t| plain(&udp6(UE_B6, CN6, t)), CORE),
    ];
    for (port, build, egress) in cases {
        gateway.assert_dropped(port, &build(1), DropReason::TtlExpired);
        gateway.assert_dropped(port, &build(0), DropReason::TtlExpired);
        assert_eq!(gateway.run(port, &build(2)).0, Verdict::Forward(egress));
    }
    assert_eq!(gateway.snapshot().drops(DropReason::TtlExpired), 16);
}

#[test]
fn over_mtu_is_dropped_never_sent_and_exactly_mtu_passes() {
    let mut config = config();
    config.ports[CORE.get()].mtu = 1280;
    config.ports[SGI.get()].mtu = 1000;
    let gateway = Gateway::new(&config, &[lma_a(), lma_b()]);
    // Encapsulation over IPv6 adds 48 bytes, over IPv4 28 (40 or 20 + keyed GRE 8: RFC 2784, RFC 2890 §2).
    for (ue, overhead) in [(UE_A4, 48), (UE_B4, 28)] {
        let fits = sized_udp4(CN4, ue, 1280 - overhead);
        assert_eq!(gateway.run(SGI, &plain(&fits)).0, Verdict::Forward(CORE));
        gateway.assert_dropped(SGI, &plain(&sized_udp4(CN4, ue, 1280 - overhead + 1)), DropReason::OverMtu);
    }
    // Decapsulated packets against the sgi MTU.
    let fits = sized_udp4(UE_B4, CN4, 1000);
    assert_eq!(gateway.run(CORE, &frame4(PCOA4, LMAA4, 47, &gre_keyed(UL_B, &fits))).0, Verdict::Forward(SGI));
    let too_big = sized_udp4(UE_B4, CN4, 1001);
    gateway.assert_dropped(CORE, &frame4(PCOA4, LMAA4, 47, &gre_keyed(UL_B, &too_big)), DropReason::OverMtu);
}

/// An IPv4/UDP packet of exactly `total` bytes.
fn sized_udp4(src: Ipv4Addr, dst: Ipv4Addr, total: usize) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ipv4(src.octets(), dst.octets(), 64).udp(1, 2).write(&mut out, &vec![0x5a; total - 28]).unwrap();
    out
}

#[test]
fn outer_ipv4_options_are_skipped() {
    let gateway = Gateway::standard();
    let payload = gre_keyed(UL_B, &udp4(UE_B4, CN4, 64));
    let mut header = etherparse::Ipv4Header::new(0, 64, IpNumber::GRE, PCOA4.octets(), LMAA4.octets()).unwrap();
    header.options = etherparse::Ipv4Options::try_from(&[0x94u8, 0x04, 0, 0, 0x01, 0x01, 0x01, 0x00][..]).unwrap();
    header.set_payload_len(payload.len()).unwrap();
    header.header_checksum = header.calc_header_checksum();
    let mut ip = header.to_bytes().to_vec();
    ip.extend_from_slice(&payload);
    let (verdict, output) = gateway.run(CORE, &ethernet(0x0800, &ip));
    assert_eq!(verdict, Verdict::Forward(SGI));
    assert_eq!(decode_ip(&output.data()[14..]).2, 63);
}

/// An IPv6 frame with a hand-made extension-header chain between the header and GRE.
fn with_extensions(first: u8, chain: &[u8], gre: &[u8]) -> Vec<u8> {
    let mut payload = chain.to_vec();
    payload.extend_from_slice(gre);
    frame6(PCOA6, LMAA6, first, &payload)
}

#[test]
fn outer_ipv6_extension_headers_are_skipped_when_standard_and_refused_otherwise() {
    let gateway = Gateway::standard();
    let gre = gre_keyed(UL_A, &udp6(UE_A6, CN6, 64));
    // Hop-by-Hop (Router Alert) then Destination Options (PadN) then a spent Routing header.
    let mut chain = vec![60, 0, 5, 2, 0, 0, 1, 0];
    chain.extend_from_slice(&[43, 0, 1, 4, 0, 0, 0, 0]);
    chain.extend_from_slice(&[47, 0, 4, 0, 0, 0, 0, 0]);
    assert_eq!(gateway.run(CORE, &with_extensions(0, &chain, &gre)).0, Verdict::Forward(SGI));

    let routing_with_segments_left = [47, 0, 4, 2, 0, 0, 0, 0];
    gateway.assert_dropped(
        CORE,
        &with_extensions(43, &routing_with_segments_left, &gre),
        DropReason::Ipv6ExtensionHeader,
    );
    let must_not_skip_option = [47, 0, 0x80, 4, 0, 0, 0, 0];
    gateway.assert_dropped(CORE, &with_extensions(60, &must_not_skip_option, &gre), DropReason::Ipv6ExtensionHeader);
    let esp = [0u8; 16];
    gateway.assert_dropped(CORE, &with_extensions(50, &esp, &gre), DropReason::Ipv6ExtensionHeader);
    let cut_short = [47, 3, 1, 2, 0, 0];
    gateway.assert_dropped(CORE, &frame6(PCOA6, LMAA6, 60, &cut_short), DropReason::Ipv6ExtensionHeader);
}

#[test]
fn outer_fragments_of_gre_go_to_reassembly_and_other_fragments_for_us_are_dropped() {
    let gateway = Gateway::standard();
    let good = frame4(PCOA4, LMAA4, 47, &gre_keyed(UL_B, &udp4(UE_B4, CN4, 64)));
    let fragment_of = |frame: &[u8], flags_offset: u16| {
        let mut frame = frame.to_vec();
        frame[14 + 6..14 + 8].copy_from_slice(&flags_offset.to_be_bytes());
        refresh_ipv4_checksum(&mut frame[14..34]);
        frame
    };
    for (flags_offset, what) in
        [(0x2000u16, "first fragment (MF)"), (0x2010, "later fragment"), (0x0010, "last fragment")]
    {
        let frame = fragment_of(&good, flags_offset);
        let (verdict, packet) = gateway.run(CORE, &frame);
        assert_eq!(verdict, Verdict::Reassemble, "{what}");
        assert_eq!(packet.data(), frame, "handed over unchanged: {what}");
    }
    let fragment_header = [47, 0, 0, 1, 0, 0, 0, 42];
    let frame = with_extensions(44, &fragment_header, &gre_keyed(UL_A, &udp6(UE_A6, CN6, 64)));
    assert_eq!(gateway.run(CORE, &frame).0, Verdict::Reassemble);
    assert_eq!(gateway.snapshot().reassembly_fragments, 4);
    // Fragments of anything else for us (signalling, echo) are not reassembled; nor is a Fragment header behind
    // another extension header.
    let udp = fragment_of(&frame4(PCOA4, LMAA4, 17, &[0u8; 16]), 0x2000);
    gateway.assert_dropped(CORE, &udp, DropReason::Fragment);
    let destination_options = [44, 0, 1, 4, 0, 0, 0, 0];
    let behind = [&destination_options[..], &fragment_header[..], &gre_keyed(UL_A, &udp6(UE_A6, CN6, 64))].concat();
    gateway.assert_dropped(CORE, &frame6(PCOA6, LMAA6, 60, &behind), DropReason::Fragment);
    assert_eq!(gateway.snapshot().drops(DropReason::Fragment), 2);
    // Fragments in transit (not for us) are just forwarded.
    let mut transit = plain(&udp4(CN4, UE_B4, 64));
    transit[14 + 6] = 0x20;
    refresh_ipv4_checksum(&mut transit[14..34]);
    assert_eq!(gateway.run(SGI, &transit).0, Verdict::Forward(CORE));
}

fn refresh_ipv4_checksum(header: &mut [u8]) {
    header[10..12].copy_from_slice(&[0, 0]);
    let sum = crate::wire::checksum::checksum(header);
    header[10..12].copy_from_slice(&sum.to_be_bytes());
}

#[test]
fn inner_source_check_is_on_by_default_and_can_be_switched_off() {
    let spoofed = frame6(PCOA6, LMAA6, 47, &gre_keyed(UL_A, &udp6(UE_B6, CN6, 64)));
    let spoofed4 = frame6(PCOA6, LMAA6, 47, &gre_keyed(UL_A, &udp4(UE_B4, CN4, 64)));
    let gateway = Gateway::standard();
    gateway.assert_dropped(CORE, &spoofed, DropReason::InnerSourceMismatch);
    gateway.assert_dropped(CORE, &spoofed4, DropReason::InnerSourceMismatch);
    // Another address inside UE A's own /64 is the UE's.
    let inside = Ipv6Addr::new(0x2001, 0xdb8, 0xaaaa, 1, 0xdead, 0, 0, 7);
    assert_eq!(
        gateway.run(CORE, &frame6(PCOA6, LMAA6, 47, &gre_keyed(UL_A, &udp6(inside, CN6, 64)))).0,
        Verdict::Forward(SGI)
    );

    let mut config = config();
    config.inner_source_check = false;
    let unchecked = Gateway::new(&config, &[lma_a()]);
    assert_eq!(unchecked.run(CORE, &spoofed).0, Verdict::Forward(SGI));
}

#[test]
fn unbound_ues_missing_roles_headroom_and_ethertypes() {
    let gateway = Gateway::standard();
    gateway.assert_dropped(SGI, &plain(&udp4(CN4, Ipv4Addr::new(10, 99, 0, 1), 64)), DropReason::NoBinding);
    gateway.assert_dropped(
        ACCESS,
        &plain(&udp6(Ipv6Addr::new(0x2001, 0xdb8, 0xbbbb, 1, 0, 0, 0, 1), CN6, 64)),
        DropReason::NoBinding,
    );
    // A link-local source is never forwarded (RFC 5213 §6.10.3): no binding has fe80::/64.
    gateway.assert_dropped(
        ACCESS,
        &plain(&udp6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1), CN6, 64)),
        DropReason::NoBinding,
    );

    let mut vlan = plain(&udp4(CN4, UE_B4, 64));
    vlan[12..14].copy_from_slice(&0x8100u16.to_be_bytes());
    gateway.assert_dropped(SGI, &vlan, DropReason::UnsupportedEthertype);

    let frame = plain(&udp6(CN6, UE_A6, 64));
    assert_eq!(gateway.run_packet(SGI, VecPacket::with_headroom(&frame, 47)).0, Verdict::Drop(DropReason::NoHeadroom));
    assert_eq!(gateway.run_packet(SGI, VecPacket::with_headroom(&frame, 48)).0, Verdict::Forward(CORE));

    let mut config = config();
    config.ports.truncate(1); // core only: no sgi, no access
    let lonely = Gateway::new(&config, &[lma_b(), mag_b()]);
    lonely.assert_dropped(
        CORE,
        &frame4(PCOA4, LMAA4, 47, &gre_keyed(UL_B, &udp4(UE_B4, CN4, 64))),
        DropReason::NoEgressPort,
    );
    lonely.assert_dropped(
        CORE,
        &frame4(LMAA4, PCOA4, 47, &gre_keyed(DL_B, &udp4(CN4, UE_B4, 64))),
        DropReason::NoEgressPort,
    );
}

#[test]
fn random_bytes_never_panic_and_are_always_accounted() {
    // A deterministic xorshift stream of garbage frames, some with plausible headers.
    let gateway = Gateway::standard();
    let seeds = [
        frame4(PCOA4, LMAA4, 47, &gre_keyed(UL_B, &udp4(UE_B4, CN4, 64))),
        frame6(LMAA6, PCOA6, 47, &gre_keyed(DL_A, &udp6(CN6, UE_A6, 64))),
    ];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let runs = 20_000u64;
    for _ in 0..runs {
        let mut frame = seeds[(next() % 2) as usize].clone();
        for _ in 0..(next() % 4) + 1 {
            let at = (next() as usize) % frame.len();
            frame[at] = next() as u8;
        }
        frame.truncate((next() as usize) % (frame.len() + 1));
        let port = PortIndex((next() % 3) as usize);
        let _ = gateway.run(port, &frame);
    }
    let s = gateway.snapshot();
    let rx: u64 = s.ports.iter().map(|p| p.rx_packets).sum();
    assert_eq!(rx, runs);
    assert_eq!(s.encapsulated + s.decapsulated + s.punted + s.total_drops(), runs, "every packet has one outcome");
}
