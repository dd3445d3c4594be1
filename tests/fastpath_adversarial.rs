//! Adversarial input through the real gateway on net_pcap: every bad frame is dropped under its own reason
//! (asserted counter by counter, all other reasons zero), the process does not panic, punts reach the control
//! thread, and no mbuf is left in use.

mod common;
mod fastpath_support;

use fastpath_support::*;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

fn refresh_ipv4_checksum(frame: &mut [u8]) {
    let header_len = usize::from(frame[14] & 0x0f) * 4;
    let (mut header, _) = etherparse::Ipv4Header::from_slice(&frame[14..14 + header_len]).unwrap();
    header.header_checksum = header.calc_header_checksum();
    frame[14 + 10..14 + 12].copy_from_slice(&header.header_checksum.to_be_bytes());
}

/// An IPv6 frame to the LMAA with a hand-made extension header `chain` in front of UE A's uplink GRE.
fn with_extensions(first: u8, chain: &[u8]) -> Vec<u8> {
    let mut payload = chain.to_vec();
    payload.extend(gre_keyed(UL_A, &udp6(UE_A6, CN6, 64, b"ext")));
    let header = etherparse::Ipv6Header {
        traffic_class: 0,
        flow_label: etherparse::Ipv6FlowLabel::ZERO,
        payload_length: payload.len() as u16,
        next_header: etherparse::IpNumber(first),
        hop_limit: 64,
        source: PCOA6.octets(),
        destination: LMAA6.octets(),
    };
    let mut ip = header.to_bytes().to_vec();
    ip.extend(payload);
    frame(&ip)
}

#[test]
fn every_bad_frame_is_dropped_under_its_reason() {
    let lmaa4: IpAddr = LMAA4.into();
    let pcoa4: IpAddr = PCOA4.into();
    let uplink_b = |inner: &[u8], flags: u16, protocol: u16, optional: &[u8]| {
        tunnelled(pcoa4, lmaa4, 47, &gre(flags, protocol, optional, inner))
    };
    let ue_b_packet = udp4(UE_B4, CN4, 64, b"adversarial");
    let good = tunnelled(pcoa4, lmaa4, 47, &gre_keyed(UL_B, &ue_b_packet));
    let vectors = shared_vectors();

    let mut expected: BTreeMap<&str, u64> = BTreeMap::new();
    let mut core = Vec::new();
    let mut add = |frames: &mut Vec<Vec<u8>>, reason: &'static str, frame: Vec<u8>| {
        *expected.entry(reason).or_default() += 1;
        frames.push(frame);
    };

    // Truncation at each header boundary (length fields consistent with what is left, so each layer's own
    // check fires).
    add(&mut core, "ethernet-truncated", good[..10].to_vec());
    add(&mut core, "ipv4-malformed", good[..14 + 12].to_vec());
    add(&mut core, "gre-malformed", tunnelled(pcoa4, lmaa4, 47, &gre_keyed(UL_B, &ue_b_packet)[..6]));
    add(&mut core, "inner-malformed", tunnelled(pcoa4, lmaa4, 47, &gre_keyed(UL_B, &ue_b_packet)[..8 + 10]));
    // GRE header rules.
    add(&mut core, "gre-version", uplink_b(&ue_b_packet, 0x2001, 0x0800, &UL_B.to_be_bytes()));
    for bit in [0x4000, 0x0800, 0x0400] {
        add(&mut core, "gre-reserved-bits", uplink_b(&ue_b_packet, 0x2000 | bit, 0x0800, &UL_B.to_be_bytes()));
    }
    add(&mut core, "gre-no-key", uplink_b(&ue_b_packet, 0x0000, 0x0800, &[]));
    add(&mut core, "unknown-key", uplink_b(&ue_b_packet, 0x2000, 0x0800, &0xdead_beefu32.to_be_bytes()));
    add(&mut core, "gre-protocol", uplink_b(&ue_b_packet, 0x2000, 0x8847, &UL_B.to_be_bytes()));
    let mut bad_gre_checksum = vectors[11].clone();
    *bad_gre_checksum.last_mut().unwrap() ^= 0x01;
    add(&mut core, "gre-checksum", bad_gre_checksum);
    // Outer header problems.
    add(
        &mut core,
        "not-our-address",
        tunnelled(pcoa4, Ipv4Addr::new(198, 51, 100, 99).into(), 47, &gre_keyed(UL_B, &ue_b_packet)),
    );
    let mut bad_ipv4_checksum = good.clone();
    bad_ipv4_checksum[14 + 11] ^= 0xff;
    add(&mut core, "ipv4-checksum", bad_ipv4_checksum);
    // Fragments for us that are not tunnelled traffic (a piece of UDP), or behind another extension header.
    let mut fragment = tunnelled(pcoa4, lmaa4, 17, &[0; 16]);
    fragment[14 + 6] = 0x20; // more fragments
    refresh_ipv4_checksum(&mut fragment);
    add(&mut core, "fragment", fragment);
    add(&mut core, "fragment", with_extensions(60, &[44, 0, 1, 4, 0, 0, 0, 0, 47, 0, 0, 1, 0, 0, 0, 7]));
    // A first fragment of GRE whose length is no multiple of 8: no datagram can have it (RFC 8200 §4.5).
    add(&mut core, "reassembly-invalid", with_extensions(44, &[47, 0, 0, 1, 0, 0, 0, 7]));
    add(&mut core, "ipv6-extension-header", with_extensions(43, &[47, 0, 4, 1, 0, 0, 0, 0]));
    // Inner problems.
    add(&mut core, "ttl-expired", tunnelled(pcoa4, lmaa4, 47, &gre_keyed(UL_B, &udp4(UE_B4, CN4, 1, b"ttl"))));
    add(
        &mut core,
        "ttl-expired",
        tunnelled(LMAA6.into(), PCOA6.into(), 47, &gre_keyed(DL_A, &udp6(CN6, UE_A6, 1, b"ttl"))),
    );
    add(
        &mut core,
        "inner-source-mismatch",
        tunnelled(pcoa4, lmaa4, 47, &gre_keyed(UL_B, &udp4(UE_A4, CN4, 64, b"spoof"))),
    );
    // Outer CE over a Not-ECT inner packet (RFC 6040 §4.2).
    let mut congested = tunnelled(pcoa4, lmaa4, 47, &gre_keyed(UL_B, &udp4(UE_B4, CN4, 64, b"ce")));
    congested[14 + 1] |= 0b11;
    refresh_ipv4_checksum(&mut congested);
    add(&mut core, "ce-on-not-ect", congested);
    // Not IP, or ours but nothing we serve.
    let mut vlan = good.clone();
    vlan[12..14].copy_from_slice(&0x8100u16.to_be_bytes());
    add(&mut core, "unsupported-ethertype", vlan);
    add(&mut core, "local-unsupported", tunnelled(pcoa4, lmaa4, 6, &[0; 20]));

    // Accepted despite the unusual: a skippable Destination Options header, and outer IPv4 options.
    core.push(with_extensions(60, &[47, 0, 1, 4, 0, 0, 0, 0]));
    let mut header =
        etherparse::Ipv4Header::new(0, 64, etherparse::IpNumber::GRE, PCOA4.octets(), LMAA4.octets()).unwrap();
    header.options = etherparse::Ipv4Options::try_from(&[1u8, 1, 1, 0][..]).unwrap();
    let payload = gre_keyed(UL_B, &udp4(UE_B4, CN4, 64, b"options"));
    header.set_payload_len(payload.len()).unwrap();
    header.header_checksum = header.calc_header_checksum();
    let mut with_options = header.to_bytes().to_vec();
    with_options.extend(payload);
    core.push(frame(&with_options));
    // An outer IPv4 packet in two fragments, the second first: rebuilt, then decapsulated.
    let whole = tunnelled(pcoa4, lmaa4, 47, &gre_keyed(UL_B, &udp4(UE_B4, CN4, 64, &[0x33; 100])));
    let mut fragments = Vec::new();
    for (start, end, field) in [(0usize, 64usize, 0x2000u16), (64, whole.len() - 34, 8)] {
        let mut piece = whole[..34].to_vec();
        piece[14 + 2..14 + 4].copy_from_slice(&((20 + end - start) as u16).to_be_bytes());
        piece[14 + 4..14 + 6].copy_from_slice(&0x4242u16.to_be_bytes());
        piece[14 + 6..14 + 8].copy_from_slice(&field.to_be_bytes());
        piece.extend_from_slice(&whole[34 + start..34 + end]);
        refresh_ipv4_checksum(&mut piece);
        fragments.push(piece);
    }
    core.push(fragments.pop().unwrap());
    core.push(fragments.pop().unwrap());
    // Punted: a PBU to the LMAA (V1), an IPv4-UDP PBU to the IPv4-LMAA (V4), an ARP request.
    core.push(vectors[0].clone());
    core.push(vectors[3].clone());
    let mut arp = vec![0xff; 6];
    arp.extend([2, 0, 0, 0, 0x99, 0x99, 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0x99, 0x99, 192, 0, 2, 1]);
    arp.extend([0, 0, 0, 0, 0, 0, 198, 51, 100, 1]);
    core.push(arp);

    let mut sgi = Vec::new();
    add(&mut sgi, "ttl-expired", frame(&udp4(CN4, UE_B4, 1, b"ttl")));
    add(&mut sgi, "no-binding", frame(&udp4(CN4, Ipv4Addr::new(10, 99, 0, 1), 64, b"who")));
    // 1480 bytes over UE A's IPv6 tunnel: 1528 > the port's MTU of 1500.
    add(&mut sgi, "over-mtu", frame(&udp4(CN4, UE_A4, 64, &[0x5a; 1480 - 28])));
    let mut access = Vec::new();
    add(&mut access, "no-binding", frame(&udp6("2001:db8:bbbb:1::1".parse().unwrap(), CN6, 64, b"who")));
    add(&mut access, "ttl-expired", frame(&udp6(UE_A6, CN6, 1, b"ttl")));

    let run = run_both_functions("adversarial", &[core, sgi, access], "", "0");
    let drops = &run.counters["fastpath"]["total"]["drops"];
    let got: BTreeMap<&str, u64> = drops
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, n)| n.as_u64() != Some(0))
        .map(|(k, n)| (k.as_str(), n.as_u64().unwrap()))
        .collect();
    assert_eq!(got, expected, "drops by reason\n{}", run.stdout);
    assert_eq!(run.total("decapsulated"), 3, "the extension header, IPv4 options and reassembled cases");
    assert_eq!((run.total("reassembly_fragments"), run.total("reassembled")), (3, 1));
    assert_eq!(run.total("encapsulated"), 0);
    assert_eq!(run.total("punted"), 3);
    assert_eq!(run.counters["fastpath"]["punts_received"], 3, "the control thread got every punt");
    assert_eq!(run.sent("sgi").len(), 3);
    // The UE on access whose hop limit ended is told so, from the port's link-local address (its only IPv6 one):
    // ICMPv6 Time Exceeded (type 3). The ports have no other address, so nothing else is answered.
    let answered = run.sent("access");
    assert_eq!(answered.len(), 1, "{}", run.stdout);
    assert_eq!((answered[0][14 + 6], answered[0][14 + 40]), (58, 3), "ICMPv6 Time Exceeded");
    assert_eq!(&answered[0][14 + 8..14 + 10], &[0xfe, 0x80], "from a link-local address");
    assert_eq!(run.total("icmp_errors_sent"), 1);
    assert!(run.sent("core").is_empty(), "nothing else left");
    for (reason, count) in &expected {
        assert!(run.stdout.contains(&format!("drop {reason:<24} {count}")), "printed: {reason}\n{}", run.stdout);
    }
}

#[test]
fn inner_source_check_can_be_switched_off() {
    let spoofed = tunnelled(PCOA4.into(), LMAA4.into(), 47, &gre_keyed(UL_B, &udp4(UE_A4, CN4, 64, b"spoof")));
    let run = run_both_functions(
        "no-source-check",
        &[vec![spoofed.clone()], vec![], vec![]],
        "inner_source_check = false",
        "0",
    );
    assert_eq!(run.total("dropped"), 0, "{}", run.stdout);
    assert_eq!(run.sent("sgi").len(), 1);
    assert_eq!(run.sent("sgi")[0][14..], forwarded(&spoofed[14 + 28..]));
}
