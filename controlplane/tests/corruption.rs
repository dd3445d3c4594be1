//! Corrupted and unusual inputs are refused with the error that names the fault, at the right offset.
//! Where a fault would otherwise be masked by the checksum check (which runs first, RFC 6275 §9.2), the test
//! recomputes the checksum so the later check is exercised, and also shows the un-fixed packet fails the checksum.

mod common;

use common::*;
use controlplane::transport::{self, FrameHeader, Framing, UdpPorts};
use controlplane::wire::*;

const MH: usize = 40; // MH offset in the native IPv6 vectors

#[test]
fn mh_checksum_corruption_is_detected() {
    let mut ip = v1_packet();
    ip[MH + 4] ^= 0x01; // 0xce58 → 0xcf58
    assert_eq!(
        transport::parse(&ip).unwrap_err(),
        WireError::BadChecksum { what: "mobility header", expected: 0xce58, found: 0xcf58 }
    );
    // Any bit of the message, or the IPv6 source, is covered.
    let mut ip = v1_packet();
    ip[MH + 100] ^= 0x80;
    assert!(matches!(transport::parse(&ip), Err(WireError::BadChecksum { .. })));
    let mut ip = v1_packet();
    ip[8] ^= 0x01;
    assert!(matches!(transport::parse(&ip), Err(WireError::BadChecksum { .. })));
}

#[test]
fn header_length_corruption_is_detected() {
    // Header Len 16 (136 octets) → 17 (144): longer than the IPv6 payload.
    let mut ip = v1_packet();
    ip[MH + 1] = 17;
    assert_eq!(
        transport::parse(&ip).unwrap_err(),
        WireError::BadHeaderLength { mh_type: 5, octets: 144, available: 136 }
    );
    // 16 → 15 (128): fits, but leaves octets of the payload unaccounted for.
    ip[MH + 1] = 15;
    assert_eq!(
        transport::parse(&ip).unwrap_err(),
        WireError::BadHeaderLength { mh_type: 5, octets: 128, available: 136 }
    );
    // 0 (8 octets) is below the Binding Update minimum: caught by the message parser too.
    let mh = [59, 0, 5, 0, 0, 0, 0, 1];
    assert_eq!(
        MhRepr::parse_bytes(&mh).unwrap_err(),
        WireError::BadHeaderLength { mh_type: 5, octets: 8, available: 8 }
    );
}

#[test]
fn option_length_corruption_is_detected() {
    // (MH offset of the Length octet, new value, expected error)
    let cases = [
        // HNP at 84: Length 18 → 19 (fixed-size option, wrong length).
        (85, 19, WireError::BadOptionLength { option_type: 22, length: 19, offset: 84 }),
        // GRE Key at 124: Length 6 → 4 (neither 2 nor 6).
        (125, 4, WireError::BadOptionLength { option_type: 33, length: 4, offset: 124 }),
        // Final PadN at 132: Length 2 → 3 (runs past the header).
        (133, 3, WireError::BadOptionLength { option_type: 1, length: 3, offset: 132 }),
        // MN-ID at 12: Length 54 → 255 (runs past the header).
        (13, 255, WireError::BadOptionLength { option_type: 8, length: 255, offset: 12 }),
    ];
    for (at, value, want) in cases {
        let mut ip = v1_packet();
        ip[MH + at] = value;
        assert!(matches!(transport::parse(&ip), Err(WireError::BadChecksum { .. })), "unfixed {want:?}");
        fix_v6_mh_checksum(&mut ip);
        let frame = transport::parse(&ip).expect("structure and checksum are fine");
        assert_eq!(frame.repr().unwrap_err(), want);
        // The zero-allocation iterator reports the same fault.
        assert_eq!(frame.mh.options().find_map(|o| o.err()), Some(want));
    }
}

#[test]
fn payload_proto_must_be_59() {
    let mut ip = v1_packet();
    ip[MH] = 6;
    fix_v6_mh_checksum(&mut ip);
    let frame = transport::parse(&ip).unwrap();
    assert_eq!(frame.repr().unwrap_err(), WireError::PayloadProtoNot59 { found: 6 });
}

#[test]
fn duplicated_singleton_is_reported() {
    // Replace V1's final PadN (offset 132, `01 02 00 00`) by a second Handoff Indicator.
    let mut ip = v1_packet();
    ip[MH + 132..MH + 136].copy_from_slice(&[0x17, 0x02, 0x00, 0x03]);
    fix_v6_mh_checksum(&mut ip);
    let frame = transport::parse(&ip).unwrap();
    assert_eq!(frame.repr().unwrap_err(), WireError::DuplicateOption { option_type: 23, offset: 132 });
    // A second HNP is legitimate (RFC 5213 §8.3: repeatable).
    let mut ip = v1_packet();
    let hnp = ip[MH + 84..MH + 104].to_vec();
    ip[MH + 132..MH + 136].copy_from_slice(&[0, 0, 0, 0]); // four Pad1 instead of the PadN
    ip.splice(MH + 136..MH + 136, hnp.iter().copied().chain([1, 2, 0, 0])); // HNP at 136 (8n+0: misaligned, fine)
    ip[MH + 1] = 19; // 136 + 20 + 4 = 160 octets
    ip[5] = 160;
    fix_v6_mh_checksum(&mut ip);
    let MhRepr::Pbu(pbu) = transport::parse(&ip).unwrap().repr().unwrap() else { panic!("not a PBU") };
    assert_eq!(pbu.options.hnps, vec![Ipv6Prefix::UNSPECIFIED; 2]);
}

#[test]
fn unknown_mh_type_surfaces_as_a_value() {
    let mut ip = v1_packet();
    ip[MH + 2] = 200;
    fix_v6_mh_checksum(&mut ip);
    let frame = transport::parse(&ip).unwrap();
    let repr = frame.repr().unwrap();
    assert!(matches!(repr, MhRepr::Unknown { mh_type: 200, ref data } if data.len() == 130));
    // It re-emits as it came (only the checksum is recomputed).
    let mut out = vec![0; frame.header.buffer_len(&repr)];
    transport::emit(&frame.header, &repr, &mut out).unwrap();
    assert_eq!(out, ip);
}

#[test]
fn reserved_message_codes_are_rejected() {
    // Heartbeat with U but not R.
    let hb = [59, 1, 13, 0, 0, 0, 0, 0x02, 0, 0, 0, 7, 1, 2, 0, 0];
    assert_eq!(
        MhRepr::parse_bytes(&hb).unwrap_err(),
        WireError::InvalidValue { what: "heartbeat U flag without R", offset: 7 }
    );
    // Binding Revocation with B.R. Type 3.
    let br = [59, 1, 16, 0, 0, 0, 3, 0, 1, 1, 0x80, 0, 1, 2, 0, 0];
    assert_eq!(MhRepr::parse_bytes(&br).unwrap_err(), WireError::InvalidValue { what: "B.R. type", offset: 6 });
}

#[test]
fn options_in_any_order_and_alignment_are_accepted() {
    // Options packed with no alignment padding, in reverse of the canonical order.
    let opts = [
        MobilityOption::GreKey(GreKeyOpt::Key(DL_KEY)),
        MobilityOption::Timestamp(Timestamp(0x6592_0080_8000)),
        MobilityOption::AccessTechType(AccessTechType::EUTRAN),
        MobilityOption::HandoffIndicator(HandoffIndicator::NEW_INTERFACE),
        MobilityOption::HomeNetworkPrefix(Ipv6Prefix::UNSPECIFIED),
        MobilityOption::MnId { subtype: 1, id: NAI.as_bytes() },
    ];
    let mut mh = vec![59, 0, 5, 0, 0, 0, 0, 1, 0xc2, 0, 0x03, 0x84];
    for o in &opts {
        let mut b = vec![0; o.wire_len()];
        o.emit(&mut b).unwrap();
        mh.extend(b);
    }
    while mh.len() % 8 != 0 {
        mh.push(0); // Pad1s
    }
    mh[1] = (mh.len() / 8 - 1) as u8;
    let MhRepr::Pbu(pbu) = MhRepr::parse_bytes(&mh).unwrap() else { panic!("not a PBU") };
    assert_eq!(pbu.options.gre_key, Some(GreKeyOpt::Key(DL_KEY)));
    assert_eq!(pbu.options.hnps, vec![Ipv6Prefix::UNSPECIFIED]);
    assert_eq!(pbu.options.mn_id, Some(MnId::Nai(NAI.into())));
    assert_eq!(pbu.options.hi, Some(HandoffIndicator::NEW_INTERFACE));
}

#[test]
fn ipv4_udp_corruptions_are_detected() {
    let base = v4_packet();
    // UDP checksum.
    let mut ip = base.clone();
    ip[26] ^= 0xff;
    assert!(matches!(transport::parse(&ip), Err(WireError::BadChecksum { what: "UDP", expected: 0x1af8, .. })));
    // An absent UDP checksum leaves the RFC 5844 form unprotected: refused.
    let mut ip = base.clone();
    ip[26..28].fill(0);
    assert!(matches!(transport::parse(&ip), Err(WireError::BadChecksum { what: "UDP (absent)", .. })));
    // IPv4 header checksum.
    let mut ip = base.clone();
    ip[8] = 1; // TTL changed, checksum not
    assert!(matches!(transport::parse(&ip), Err(WireError::BadChecksum { what: "IPv4 header", .. })));
    // MH Header Len (UDP checksum fixed so the MH check is reached).
    let mut ip = base.clone();
    ip[28 + 1] = 12;
    fix_udp_checksum(&mut ip);
    assert_eq!(
        transport::parse(&ip).unwrap_err(),
        WireError::BadHeaderLength { mh_type: 5, octets: 104, available: 112 }
    );
    // Option length: IPv4 HoA Request at MH offset 68, Length 6 → 5.
    let mut ip = base.clone();
    ip[28 + 69] = 5;
    fix_udp_checksum(&mut ip);
    assert_eq!(
        transport::parse(&ip).unwrap().repr().unwrap_err(),
        WireError::BadOptionLength { option_type: 36, length: 5, offset: 68 }
    );
    // The MH checksum is ignored in this form (RFC 5844 §4).
    let mut ip = base.clone();
    ip[28 + 4] = 0x12;
    fix_udp_checksum(&mut ip);
    assert!(transport::parse(&ip).unwrap().repr().is_ok());
    // Not the signalling port.
    let mut ip = base;
    ip[20..24].copy_from_slice(&[0x13, 0x88, 0x13, 0x88]);
    fix_udp_checksum(&mut ip);
    assert!(matches!(transport::parse(&ip), Err(WireError::NotSignalling { what: "UDP port", .. })));
}

#[test]
fn three_gpp_profile_requires_mapped_inner_addresses() {
    let MhRepr::Pbu(pbu) = expected("V4_PBU_initial_IPv4_UDP").unwrap() else { unreachable!() };
    let repr = MhRepr::Pbu(pbu);
    for framing in [Framing::Ipv6InIpv4, Framing::Ipv6InIpv4Udp(UdpPorts::CNTL)] {
        let hdr = FrameHeader::new(framing, MAG4.into(), LMA4.into());
        let mut ip = vec![0; hdr.buffer_len(&repr)];
        transport::emit(&hdr, &repr, &mut ip).unwrap();
        assert_eq!(transport::parse(&ip).unwrap().header, hdr);
        // Change the outer source: the inner mapped source no longer matches.
        ip[15] = 99;
        fix_ipv4_checksum(&mut ip);
        if matches!(framing, Framing::Ipv6InIpv4Udp(_)) {
            fix_udp_checksum(&mut ip);
        }
        assert_eq!(transport::parse(&ip).unwrap_err(), WireError::MappedAddressMismatch { which: "source" });
    }
}

#[test]
fn every_truncation_fails_cleanly() {
    for ip in [v1_packet(), v4_packet()] {
        for len in 0..ip.len() {
            assert!(transport::parse(&ip[..len]).is_err(), "truncated to {len}");
        }
        // Trailing link-layer padding beyond the IP length is ignored.
        let mut padded = ip.clone();
        padded.extend([0; 6]);
        assert!(transport::parse(&padded).is_ok());
    }
}

/// V1 with Hop-by-Hop, Destination Options and a Fragment header inserted before the MH (`frag_word` is the
/// Fragment header's offset/flags word).
fn v1_with_extension_headers(frag_word: u16) -> Vec<u8> {
    let mut ip = v1_packet();
    let frag = frag_word.to_be_bytes();
    let ext = [
        [60, 0, 1, 4, 0, 0, 0, 0],              // Hop-by-Hop → Destination Options; PadN(6)
        [44, 0, 1, 4, 0, 0, 0, 0],              // Destination Options → Fragment; PadN(6)
        [135, 0, frag[0], frag[1], 0, 0, 0, 1], // Fragment → MH
    ];
    ip.splice(40..40, ext.concat());
    ip[6] = 0; // IPv6 next header: Hop-by-Hop
    ip[5] += 24; // payload length 136 → 160
    ip
}

#[test]
fn ipv6_extension_headers_are_skipped() {
    // The MH checksum covers only the MH (upper-layer length 136), so it still verifies.
    let ip = v1_with_extension_headers(0);
    let frame = transport::parse(&ip).unwrap();
    assert_eq!(frame.repr().unwrap(), expected("V1_PBU_initial_IPv6").unwrap());
    assert_eq!(frame.header.framing, Framing::Ipv6);
    // A real fragment (More Fragments set, or a non-zero offset) cannot be parsed on its own.
    assert_eq!(transport::parse(&v1_with_extension_headers(1)).unwrap_err(), WireError::Fragmented { offset: 56 });
    assert_eq!(transport::parse(&v1_with_extension_headers(8)).unwrap_err(), WireError::Fragmented { offset: 56 });
    // A routing header with segments left would change the pseudo-header destination: refused.
    let mut ip = v1_with_extension_headers(0);
    ip[48..56].copy_from_slice(&[44, 0, 0, 1, 0, 0, 0, 0]); // Destination Options → Routing, type 0, 1 left
    ip[40] = 43;
    assert!(matches!(transport::parse(&ip), Err(WireError::InvalidValue { offset: 51, .. })));
    // Something other than an MH at the end of the chain.
    let mut ip = v1_with_extension_headers(0);
    ip[56] = 17;
    assert!(matches!(transport::parse(&ip), Err(WireError::NotSignalling { value: 17, .. })));
}
