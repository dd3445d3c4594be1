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
