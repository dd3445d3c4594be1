//! Echo replies for the gateway's own addresses (RFC 792, RFC 4443 §4.2): what an operator pings first when a
//! tunnel does not work. The reply is the request turned round: addresses swapped, type changed, checksums
//! updated; the payload comes back unchanged.

use std::net::IpAddr;

use crate::wire::checksum;
use crate::wire::ethernet::{self, MacAddr};
use crate::wire::icmp::{ICMPV6_ECHO_REPLY, ICMPV6_ECHO_REQUEST, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST};
use crate::wire::ipv4::{self, Ipv4Packet};
use crate::wire::ipv6::{self, Ipv6Packet};

const REPLY_HOP_LIMIT: u8 = 64;

/// The reply to an echo request in `frame` addressed to one of `ours`, sent from `our_mac`; `None` for anything
/// else (other ICMP, not ours, fragments, options we do not carry back, malformed).
pub fn reply(frame: &[u8], our_mac: MacAddr, ours: &[IpAddr]) -> Option<Vec<u8>> {
    let eth = ethernet::EthernetHeader::parse(frame)?;
    let l3 = frame.get(ethernet::HEADER_LEN..)?;
    let mut out = match eth.ethertype() {
        ethernet::ETHERTYPE_IPV4 => reply_v4(l3, ours)?,
        ethernet::ETHERTYPE_IPV6 => reply_v6(l3, ours)?,
        _ => return None,
    };
    let mut framed = vec![0u8; ethernet::HEADER_LEN];
    let header: &mut [u8; ethernet::HEADER_LEN] = framed.as_mut_slice().try_into().ok()?;
    ethernet::write_header(header, eth.source(), our_mac, eth.ethertype());
    framed.append(&mut out);
    Some(framed)
}

fn reply_v4(l3: &[u8], ours: &[IpAddr]) -> Option<Vec<u8>> {
    let ip = Ipv4Packet::parse(l3).ok()?;
    let icmp = ip.payload();
    let for_us = ours.contains(&IpAddr::V4(ip.dst()));
    if !for_us
        || ip.is_fragment()
        || ip.header_len() != ipv4::MIN_HEADER_LEN
        || icmp.first() != Some(&ICMP_ECHO_REQUEST)
    {
        return None;
    }
    if ip.protocol() != 1 || icmp.len() < 8 || !checksum::verifies(icmp) {
        return None;
    }
    let mut out = l3.get(..ip.total_len())?.to_vec();
    let (src, dst) = (ip.src().octets(), ip.dst().octets());
    out[8] = REPLY_HOP_LIMIT;
    out[12..16].copy_from_slice(&dst);
    out[16..20].copy_from_slice(&src);
    out[10..12].copy_from_slice(&[0, 0]);
    let header_sum = checksum::checksum(&out[..ipv4::MIN_HEADER_LEN]);
    out[10..12].copy_from_slice(&header_sum.to_be_bytes());
    turn_round(&mut out[ipv4::MIN_HEADER_LEN..], ICMP_ECHO_REPLY);
    Some(out)
}

fn reply_v6(l3: &[u8], ours: &[IpAddr]) -> Option<Vec<u8>> {
    let ip = Ipv6Packet::parse(l3).ok()?;
    let icmp = ip.payload();
    // Only a request directly in IPv6 (no extension headers) to a unicast address of ours.
    if ip.next_header() != 58 || !ours.contains(&IpAddr::V6(ip.dst())) || icmp.first() != Some(&ICMPV6_ECHO_REQUEST) {
        return None;
    }
    if icmp.len() < 8 {
        return None;
    }
    let mut out = l3.get(..ip.total_len())?.to_vec();
    let (src, dst) = (ip.src_octets(), ip.dst_octets());
    out[7] = REPLY_HOP_LIMIT;
    out[8..24].copy_from_slice(&dst);
    out[24..40].copy_from_slice(&src);
    // The pseudo-header sums the same with the addresses swapped: only the type changes the checksum.
    turn_round(&mut out[ipv6::HEADER_LEN..], ICMPV6_ECHO_REPLY);
    Some(out)
}

/// Sets the ICMP type of an echo message and updates its checksum (RFC 1624; type and code share a word).
fn turn_round(icmp: &mut [u8], reply_type: u8) {
    let old_word = u16::from_be_bytes([icmp[0], icmp[1]]);
    icmp[0] = reply_type;
    let new_word = u16::from_be_bytes([icmp[0], icmp[1]]);
    let old_sum = u16::from_be_bytes([icmp[2], icmp[3]]);
    icmp[2..4].copy_from_slice(&checksum::update(old_sum, old_word, new_word).to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{Icmpv4Type, Icmpv6Type, PacketBuilder, SlicedPacket, TransportSlice};

    const THEM: [u8; 6] = [2, 0, 0, 0, 0, 9];
    const US: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);

    #[test]
    fn ipv4_and_ipv6_requests_come_back_as_valid_replies_with_the_payload() {
        let ours: Vec<IpAddr> = vec!["203.0.113.1".parse().unwrap(), "2001:db8:50::1".parse().unwrap()];
        let mut v4 = Vec::new();
        PacketBuilder::ethernet2(THEM, US.0)
            .ipv4([203, 0, 113, 10], [203, 0, 113, 1], 9)
            .icmpv4_echo_request(0x1234, 7)
            .write(&mut v4, b"ping payload")
            .unwrap();
        let mut v6 = Vec::new();
        PacketBuilder::ethernet2(THEM, US.0)
            .ipv6("2001:db8:50::10".parse::<std::net::Ipv6Addr>().unwrap().octets(), ours_v6(), 9)
            .icmpv6_echo_request(0x4321, 8)
            .write(&mut v6, b"ping6 payload")
            .unwrap();
        for (request, payload) in [(v4, &b"ping payload"[..]), (v6, &b"ping6 payload"[..])] {
            let answer = reply(&request, US, &ours).expect("a reply");
            let sliced = SlicedPacket::from_ethernet(&answer).expect("etherparse reads the reply");
            let Some(etherparse::LinkSlice::Ethernet2(eth)) = &sliced.link else { panic!() };
            assert_eq!((eth.destination(), eth.source()), (THEM, US.0));
            match sliced.transport.expect("ICMP") {
                TransportSlice::Icmpv4(icmp) => {
                    assert!(matches!(icmp.icmp_type(), Icmpv4Type::EchoReply(h) if h.id == 0x1234 && h.seq == 7));
                    assert_eq!(icmp.payload(), payload);
                    let etherparse::NetSlice::Ipv4(ip) = sliced.net.unwrap() else { panic!() };
                    let header = ip.header().to_header();
                    assert_eq!(header.header_checksum, header.calc_header_checksum());
                    assert_eq!(header.destination, [203, 0, 113, 10]);
                    assert_eq!(icmp.checksum(), icmp.icmp_type().calc_checksum(payload));
                }
                TransportSlice::Icmpv6(icmp) => {
                    assert!(matches!(icmp.icmp_type(), Icmpv6Type::EchoReply(h) if h.id == 0x4321 && h.seq == 8));
                    assert_eq!(icmp.payload(), payload);
                    let etherparse::NetSlice::Ipv6(ip) = sliced.net.unwrap() else { panic!() };
                    let header = ip.header().to_header();
                    let expected = icmp.icmp_type().calc_checksum(header.source, header.destination, payload).unwrap();
                    assert_eq!(icmp.checksum(), expected);
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn only_requests_to_our_addresses_are_answered() {
        let ours: Vec<IpAddr> = vec!["203.0.113.1".parse().unwrap()];
        let mut other = Vec::new();
        PacketBuilder::ethernet2(THEM, US.0)
            .ipv4([203, 0, 113, 10], [203, 0, 113, 2], 9)
            .icmpv4_echo_request(1, 1)
            .write(&mut other, b"x")
            .unwrap();
        assert_eq!(reply(&other, US, &ours), None);
        let mut answer = Vec::new();
        PacketBuilder::ethernet2(THEM, US.0)
            .ipv4([203, 0, 113, 10], [203, 0, 113, 1], 9)
            .icmpv4_echo_reply(1, 1)
            .write(&mut answer, b"x")
            .unwrap();
        assert_eq!(reply(&answer, US, &ours), None, "replies are not answered");
        assert_eq!(reply(&answer[..20], US, &ours), None, "truncated");
    }

    fn ours_v6() -> [u8; 16] {
        "2001:db8:50::1".parse::<std::net::Ipv6Addr>().unwrap().octets()
    }
}
