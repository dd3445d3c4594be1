//! The shared vectors (testdata/vectors, tshark- and scapy-verified) parse to the values their README documents
//! and re-emit byte-identical, checksums included.

mod common;

use common::*;
use controlplane::wire::*;
use std::net::Ipv6Addr;

/// IPv6 source and destination of a native-IPv6 vector packet.
fn v6_addrs(ip: &[u8]) -> (Ipv6Addr, Ipv6Addr) {
    let a: [u8; 16] = ip[8..24].try_into().unwrap();
    let b: [u8; 16] = ip[24..40].try_into().unwrap();
    (a.into(), b.into())
}

#[test]
fn mobility_headers_parse_and_reemit_identically() {
    let mut seen = 0;
    for (name, ip, mh) in json_vectors() {
        let Some(mh) = mh else { continue };
        let want = expected(&name).unwrap_or_else(|| panic!("no expectation for {name}"));
        let packet = MhPacket::new_checked(&mh[..]).unwrap();
        assert_eq!(packet.checksum(), expected_checksum(&name).unwrap(), "{name}");
        let got = MhRepr::parse(&packet).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, want, "{name}");
        assert_eq!(got.buffer_len(), mh.len(), "{name}");

        let mut out = vec![0xaau8; got.buffer_len()];
        if ip[0] >> 4 == 6 {
            let (src, dst) = v6_addrs(&ip);
            packet.verify_checksum(&src, &dst).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(got.emit_with_checksum(&mut out, &src, &dst).unwrap(), mh.len());
        } else {
            // RFC 5844 IPv4-UDP form: MH checksum 0.
            assert_eq!(got.emit(&mut out).unwrap(), mh.len());
        }
        assert_eq!(out, mh, "{name} re-emitted");
        seen += 1;
    }
    assert_eq!(seen, 10, "signalling vectors in vectors.json");
}

#[test]
fn option_iterator_matches_documented_layout() {
    // V2's layout table in vectors/README.md: (type or "pad", offset, size).
    let (_, _, mh) = json_vectors().into_iter().find(|(n, _, _)| n == "V2_PBA_accept_IPv6").unwrap();
    let mh = mh.unwrap();
    let packet = MhPacket::new_checked(&mh[..]).unwrap();
    let layout: Vec<(u8, usize, usize)> =
        packet.options().map(|o| o.map(|(off, opt)| (opt.opt_type(), off, opt.wire_len())).unwrap()).collect();
    let want = [
        (8, 12, 56),
        (20, 68, 11),
        (1, 79, 5),
        (22, 84, 20),
        (23, 104, 4),
        (24, 108, 4),
        (1, 112, 2),
        (27, 114, 10),
        (33, 124, 8),
        (1, 132, 2),
        (19, 134, 12),
        (1, 146, 6),
    ];
    assert_eq!(layout, want);
}

/// Strips the 14-octet Ethernet header of a pcap frame.
fn ip_of(frame: &[u8]) -> &[u8] {
    assert!(frame.len() > 14);
    &frame[14..]
}

#[test]
fn pcap_frames_parse_and_reemit_identically() {
    use controlplane::transport::{self, Framing, UdpPorts};
    use std::net::IpAddr;

    let frames = pcap_frames();
    let vectors = json_vectors();
    assert_eq!(frames.len(), 13);
    assert_eq!(vectors.len(), 13);
    let mut signalling = 0;
    for (frame, (name, json_ip, _)) in frames.iter().zip(&vectors) {
        let ip = ip_of(frame);
        assert_eq!(ip, &json_ip[..], "{name}: pcap frame and vectors.json disagree");
        let Some(want) = expected(name) else {
            // GRE data frames: well-formed IP, but not signalling.
            let err = transport::parse(ip).unwrap_err();
            assert!(matches!(err, WireError::NotSignalling { value: 47, .. }), "{name}: {err:?}");
            continue;
        };
        let f = transport::parse(ip).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(f.repr().unwrap(), want, "{name}");
        let (mag, lma): (IpAddr, IpAddr) =
            if name.contains("IPv4") { (MAG4.into(), LMA4.into()) } else { (MAG6.into(), LMA6.into()) };
        let from_mag = matches!(want, MhRepr::Pbu(_)) || name.starts_with("V6a") || name.starts_with("V7b");
        let (src, dst) = if from_mag { (mag, lma) } else { (lma, mag) };
        assert_eq!((f.header.src, f.header.dst), (src, dst), "{name}");
        let framing = if name.contains("IPv4_UDP") { Framing::Ipv4Udp(UdpPorts::CNTL) } else { Framing::Ipv6 };
        assert_eq!(f.header.framing, framing, "{name}");
        assert_eq!(f.header.hop_limit, 64);

        let mut out = vec![0u8; f.header.buffer_len(&want)];
        assert_eq!(transport::emit(&f.header, &want, &mut out).unwrap(), ip.len(), "{name}");
        assert_eq!(out, ip, "{name} re-emitted");
        signalling += 1;
    }
    assert_eq!(signalling, 10);
}
