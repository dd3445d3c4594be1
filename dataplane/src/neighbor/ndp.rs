//! IPv6 Neighbor Discovery messages (RFC 4861 §4): Router Solicitation/Advertisement and Neighbor
//! Solicitation/Advertisement, carried directly in IPv6 (no extension headers) with hop limit 255.

use std::net::Ipv6Addr;

use crate::wire::checksum;
use crate::wire::ethernet::{self, MacAddr};

const IPV6_HEADER_LEN: usize = 40;
const NEXT_HEADER_ICMPV6: u8 = 58;
/// RFC 4861 §6.1.1, §7.1.1: a receiver drops ND messages whose hop limit is not 255 (they were routed).
const ND_HOP_LIMIT: u8 = 255;

use crate::wire::icmp::{
    ICMPV6_NEIGHBOR_ADVERTISEMENT as TYPE_NEIGHBOR_ADVERTISEMENT,
    ICMPV6_NEIGHBOR_SOLICITATION as TYPE_NEIGHBOR_SOLICITATION,
    ICMPV6_ROUTER_ADVERTISEMENT as TYPE_ROUTER_ADVERTISEMENT, ICMPV6_ROUTER_SOLICITATION as TYPE_ROUTER_SOLICITATION,
};

const OPTION_SOURCE_LINK_ADDR: u8 = 1;
const OPTION_TARGET_LINK_ADDR: u8 = 2;
const OPTION_PREFIX_INFORMATION: u8 = 3;
const OPTION_MTU: u8 = 5;

/// All-nodes multicast, the destination of unsolicited advertisements.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// A Prefix Information option (RFC 4861 §4.6.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrefixInfo {
    pub prefix: Ipv6Addr,
    pub len: u8,
    /// L: the prefix is on-link.
    pub on_link: bool,
    /// A: hosts may form addresses in it by SLAAC.
    pub autonomous: bool,
    pub valid_lifetime_s: u32,
    pub preferred_lifetime_s: u32,
}

/// What a Router Advertisement says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouterAdvertisement {
    pub router_lifetime_s: u16,
    pub source_link_addr: Option<MacAddr>,
    pub mtu: Option<u32>,
    pub prefixes: Vec<PrefixInfo>,
}

/// The ND message inside a frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NdpMessage {
    RouterSolicitation {
        source_link_addr: Option<MacAddr>,
    },
    RouterAdvertisement(RouterAdvertisement),
    NeighborSolicitation {
        target: Ipv6Addr,
        source_link_addr: Option<MacAddr>,
    },
    NeighborAdvertisement {
        target: Ipv6Addr,
        router: bool,
        solicited: bool,
        overrides: bool,
        target_link_addr: Option<MacAddr>,
    },
}

/// A parsed ND frame with its addressing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NdpPacket {
    pub src_mac: MacAddr,
    pub dst_mac: MacAddr,
    pub src_ip: Ipv6Addr,
    pub dst_ip: Ipv6Addr,
    pub message: NdpMessage,
}

/// Why a frame is not an ND message the gateway accepts (RFC 4861 validity checks).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NdpError {
    #[error("not ICMPv6 directly over IPv6")]
    NotNdp,
    #[error("truncated")]
    Truncated,
    #[error("hop limit {0} is not 255: the message was routed")]
    HopLimit(u8),
    #[error("bad ICMPv6 checksum")]
    Checksum,
    #[error("ICMPv6 type {0} is not a neighbour-discovery message handled here")]
    Type(u8),
    #[error("ND code must be 0")]
    Code,
    #[error("an ND option has length 0 or runs past the message")]
    OptionLength,
    #[error("the target is a multicast address")]
    MulticastTarget,
}

/// Parses and validates an ND message in an Ethernet frame.
pub fn parse(frame: &[u8]) -> Result<NdpPacket, NdpError> {
    let eth = ethernet::EthernetHeader::parse(frame).ok_or(NdpError::Truncated)?;
    if eth.ethertype() != ethernet::ETHERTYPE_IPV6 {
        return Err(NdpError::NotNdp);
    }
    let ip = frame.get(ethernet::HEADER_LEN..).ok_or(NdpError::Truncated)?;
    let header = ip.get(..IPV6_HEADER_LEN).ok_or(NdpError::Truncated)?;
    if header[0] >> 4 != 6 || header[6] != NEXT_HEADER_ICMPV6 {
        return Err(NdpError::NotNdp);
    }
    if header[7] != ND_HOP_LIMIT {
        return Err(NdpError::HopLimit(header[7]));
    }
    let payload_len = u16::from_be_bytes([header[4], header[5]]) as usize;
    let icmp = ip.get(IPV6_HEADER_LEN..IPV6_HEADER_LEN + payload_len).ok_or(NdpError::Truncated)?;
    let src_ip = addr(&header[8..24]);
    let dst_ip = addr(&header[24..40]);
    if icmp.len() < 8 {
        return Err(NdpError::Truncated);
    }
    if checksum::combine(pseudo_header_sum(&src_ip, &dst_ip, icmp.len()), checksum::sum(icmp)) != 0xffff {
        return Err(NdpError::Checksum);
    }
    if icmp[1] != 0 {
        return Err(NdpError::Code);
    }
    let (fixed_len, message_type) = match icmp[0] {
        TYPE_ROUTER_SOLICITATION => (8, icmp[0]),
        TYPE_ROUTER_ADVERTISEMENT => (16, icmp[0]),
        TYPE_NEIGHBOR_SOLICITATION | TYPE_NEIGHBOR_ADVERTISEMENT => (24, icmp[0]),
        other => return Err(NdpError::Type(other)),
    };
    let options = Options::parse(icmp.get(fixed_len..).ok_or(NdpError::Truncated)?)?;
    let message = match message_type {
        TYPE_ROUTER_SOLICITATION => NdpMessage::RouterSolicitation { source_link_addr: options.source_link_addr },
        TYPE_ROUTER_ADVERTISEMENT => NdpMessage::RouterAdvertisement(RouterAdvertisement {
            router_lifetime_s: u16::from_be_bytes([icmp[6], icmp[7]]),
            source_link_addr: options.source_link_addr,
            mtu: options.mtu,
            prefixes: options.prefixes,
        }),
        TYPE_NEIGHBOR_SOLICITATION => {
            let target = addr(&icmp[8..24]);
            if target.is_multicast() {
                return Err(NdpError::MulticastTarget);
            }
            NdpMessage::NeighborSolicitation { target, source_link_addr: options.source_link_addr }
        }
        _ => {
            let target = addr(&icmp[8..24]);
            if target.is_multicast() {
                return Err(NdpError::MulticastTarget);
            }
            NdpMessage::NeighborAdvertisement {
                target,
                router: icmp[4] & 0x80 != 0,
                solicited: icmp[4] & 0x40 != 0,
                overrides: icmp[4] & 0x20 != 0,
                target_link_addr: options.target_link_addr,
            }
        }
    };
    Ok(NdpPacket { src_mac: eth.source(), dst_mac: eth.destination(), src_ip, dst_ip, message })
}

#[derive(Default)]
struct Options {
    source_link_addr: Option<MacAddr>,
    target_link_addr: Option<MacAddr>,
    mtu: Option<u32>,
    prefixes: Vec<PrefixInfo>,
}

impl Options {
    fn parse(mut bytes: &[u8]) -> Result<Options, NdpError> {
        let mut options = Options::default();
        while !bytes.is_empty() {
            let len = *bytes.get(1).ok_or(NdpError::OptionLength)? as usize * 8;
            if len == 0 || len > bytes.len() {
                return Err(NdpError::OptionLength);
            }
            let (option, rest) = bytes.split_at(len);
            let mac = || option.get(2..8).map(|m| MacAddr(m.try_into().expect("6 bytes")));
            match option[0] {
                OPTION_SOURCE_LINK_ADDR => options.source_link_addr = mac(),
                OPTION_TARGET_LINK_ADDR => options.target_link_addr = mac(),
                OPTION_MTU if len == 8 => {
                    options.mtu = Some(u32::from_be_bytes([option[4], option[5], option[6], option[7]]))
                }
                OPTION_PREFIX_INFORMATION if len == 32 => options.prefixes.push(PrefixInfo {
                    len: option[2],
                    on_link: option[3] & 0x80 != 0,
                    autonomous: option[3] & 0x40 != 0,
                    valid_lifetime_s: u32::from_be_bytes([option[4], option[5], option[6], option[7]]),
                    preferred_lifetime_s: u32::from_be_bytes([option[8], option[9], option[10], option[11]]),
                    prefix: addr(&option[16..32]),
                }),
                _ => {} // RFC 4861 §4.6: unknown options are ignored
            }
            bytes = rest;
        }
        Ok(options)
    }
}

fn addr(bytes: &[u8]) -> Ipv6Addr {
    Ipv6Addr::from(<[u8; 16]>::try_from(bytes).expect("16-byte slice"))
}

fn pseudo_header_sum(src: &Ipv6Addr, dst: &Ipv6Addr, len: usize) -> u16 {
    let mut pseudo = [0u8; 40];
    pseudo[0..16].copy_from_slice(&src.octets());
    pseudo[16..32].copy_from_slice(&dst.octets());
    pseudo[32..36].copy_from_slice(&(len as u32).to_be_bytes());
    pseudo[39] = NEXT_HEADER_ICMPV6;
    checksum::sum(&pseudo)
}

/// The solicited-node multicast address of `target` (RFC 4291 §2.7.1): ff02::1:ffXX:XXXX.
pub fn solicited_node(target: &Ipv6Addr) -> Ipv6Addr {
    let t = target.octets();
    Ipv6Addr::from([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, t[13], t[14], t[15]])
}

/// The Ethernet address an IPv6 multicast address maps to (RFC 2464 §7): 33:33 and its last four octets.
pub fn multicast_mac(group: &Ipv6Addr) -> MacAddr {
    let g = group.octets();
    MacAddr([0x33, 0x33, g[12], g[13], g[14], g[15]])
}

/// A frame carrying ICMPv6 `body` (type first, checksum field zero) with hop limit 255; fills the checksum.
fn frame(src_mac: MacAddr, dst_mac: MacAddr, src_ip: &Ipv6Addr, dst_ip: &Ipv6Addr, mut body: Vec<u8>) -> Vec<u8> {
    let sum = checksum::combine(pseudo_header_sum(src_ip, dst_ip, body.len()), checksum::sum(&body));
    body[2..4].copy_from_slice(&(!sum).to_be_bytes());
    let mut out = vec![0u8; ethernet::HEADER_LEN + IPV6_HEADER_LEN];
    ethernet::write_header(
        (&mut out[..ethernet::HEADER_LEN]).try_into().expect("header-sized"),
        dst_mac,
        src_mac,
        ethernet::ETHERTYPE_IPV6,
    );
    let ip = &mut out[ethernet::HEADER_LEN..];
    ip[0] = 0x60;
    ip[4..6].copy_from_slice(&(body.len() as u16).to_be_bytes());
    ip[6] = NEXT_HEADER_ICMPV6;
    ip[7] = ND_HOP_LIMIT;
    ip[8..24].copy_from_slice(&src_ip.octets());
    ip[24..40].copy_from_slice(&dst_ip.octets());
    out.extend_from_slice(&body);
    out
}

fn link_addr_option(kind: u8, mac: MacAddr) -> [u8; 8] {
    let mut option = [kind, 1, 0, 0, 0, 0, 0, 0];
    option[2..8].copy_from_slice(&mac.0);
    option
}

/// A multicast Neighbor Solicitation for `target` from `our_ip`, with our link-layer address.
pub fn neighbor_solicitation(our_mac: MacAddr, our_ip: &Ipv6Addr, target: &Ipv6Addr) -> Vec<u8> {
    let group = solicited_node(target);
    let mut body = vec![TYPE_NEIGHBOR_SOLICITATION, 0, 0, 0, 0, 0, 0, 0];
    body.extend_from_slice(&target.octets());
    body.extend_from_slice(&link_addr_option(OPTION_SOURCE_LINK_ADDR, our_mac));
    frame(our_mac, multicast_mac(&group), our_ip, &group, body)
}

/// The Neighbor Advertisement answering `solicitation` when its target is one of `our_ips` (RFC 4861 §7.2.4):
/// solicited and unicast back, or to all-nodes with S=0 when the asker had no address yet (DAD).
pub fn reply_to_solicitation(
    solicitation: &NdpPacket,
    our_mac: MacAddr,
    our_ips: &[Ipv6Addr],
    router: bool,
) -> Option<Vec<u8>> {
    let NdpMessage::NeighborSolicitation { target, .. } = solicitation.message else { return None };
    if !our_ips.contains(&target) {
        return None;
    }
    let (dst_ip, dst_mac, solicited) = if solicitation.src_ip.is_unspecified() {
        (ALL_NODES, multicast_mac(&ALL_NODES), false)
    } else {
        (solicitation.src_ip, solicitation.src_mac, true)
    };
    let flags = (if router { 0x80 } else { 0 }) | (if solicited { 0x40 } else { 0 }) | 0x20;
    let mut body = vec![TYPE_NEIGHBOR_ADVERTISEMENT, 0, 0, 0, flags, 0, 0, 0];
    body.extend_from_slice(&target.octets());
    body.extend_from_slice(&link_addr_option(OPTION_TARGET_LINK_ADDR, our_mac));
    Some(frame(our_mac, dst_mac, &target, &dst_ip, body))
}

/// A Router Advertisement from `our_link_local` to (`dst_mac`, `dst_ip`) announcing `advert`.
pub fn router_advertisement(
    our_mac: MacAddr,
    our_link_local: &Ipv6Addr,
    dst_mac: MacAddr,
    dst_ip: &Ipv6Addr,
    advert: &RouterAdvertisement,
) -> Vec<u8> {
    // Current hop limit 64, no M/O flags (addresses by SLAAC from the home network prefix), reachable time and
    // retransmission timer left to the host (0).
    let mut body = vec![TYPE_ROUTER_ADVERTISEMENT, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    body[6..8].copy_from_slice(&advert.router_lifetime_s.to_be_bytes());
    if let Some(mac) = advert.source_link_addr {
        body.extend_from_slice(&link_addr_option(OPTION_SOURCE_LINK_ADDR, mac));
    }
    if let Some(mtu) = advert.mtu {
        body.extend_from_slice(&[OPTION_MTU, 1, 0, 0]);
        body.extend_from_slice(&mtu.to_be_bytes());
    }
    for p in &advert.prefixes {
        let flags = (if p.on_link { 0x80 } else { 0 }) | (if p.autonomous { 0x40 } else { 0 });
        body.extend_from_slice(&[OPTION_PREFIX_INFORMATION, 4, p.len, flags]);
        body.extend_from_slice(&p.valid_lifetime_s.to_be_bytes());
        body.extend_from_slice(&p.preferred_lifetime_s.to_be_bytes());
        body.extend_from_slice(&[0; 4]);
        body.extend_from_slice(&p.prefix.octets());
    }
    frame(our_mac, dst_mac, our_link_local, dst_ip, body)
}

/// The EUI-64-style link-local address the gateway uses on a port (RFC 4291 App. A).
pub fn link_local_from_mac(mac: MacAddr) -> Ipv6Addr {
    let m = mac.0;
    Ipv6Addr::from([0xfe, 0x80, 0, 0, 0, 0, 0, 0, m[0] ^ 0x02, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{Icmpv6Type, SlicedPacket, TransportSlice};

    const OURS: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
    const HOST: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);

    fn ip(text: &str) -> Ipv6Addr {
        text.parse().unwrap()
    }

    /// etherparse's view of an ICMPv6 frame (type number), with its own checksum verdict. Field-level decoding
    /// by tshark is in `tests/neighbor_tshark.rs`.
    fn icmpv6(frame: &[u8]) -> u8 {
        let parsed = SlicedPacket::from_ethernet(frame).expect("etherparse");
        let Some(etherparse::NetSlice::Ipv6(ipv6)) = &parsed.net else { panic!("not IPv6") };
        assert_eq!(ipv6.header().hop_limit(), 255);
        let Some(TransportSlice::Icmpv6(icmp)) = parsed.transport else { panic!("not ICMPv6") };
        let expected = icmp
            .header()
            .icmp_type
            .calc_checksum(ipv6.header().source(), ipv6.header().destination(), icmp.payload())
            .expect("checksum");
        assert_eq!(icmp.checksum(), expected, "etherparse agrees on the ICMPv6 checksum");
        match icmp.icmp_type() {
            Icmpv6Type::Unknown { type_u8, .. } => type_u8,
            other => panic!("not an ND message: {other:?}"),
        }
    }

    #[test]
    fn solicitation_goes_to_the_solicited_node_group_and_round_trips() {
        let target = ip("2001:db8:1::2");
        let frame = neighbor_solicitation(OURS, &ip("2001:db8:1::1"), &target);
        assert_eq!(&frame[0..6], &[0x33, 0x33, 0xff, 0, 0, 2]);
        assert_eq!(icmpv6(&frame), TYPE_NEIGHBOR_SOLICITATION);
        let parsed = parse(&frame).unwrap();
        assert_eq!(parsed.dst_ip, ip("ff02::1:ff00:2"));
        assert_eq!(parsed.message, NdpMessage::NeighborSolicitation { target, source_link_addr: Some(OURS) });
    }

    #[test]
    fn advertisement_answers_only_for_our_addresses() {
        let ns = parse(&neighbor_solicitation(HOST, &ip("2001:db8:1::2"), &ip("2001:db8:1::1"))).unwrap();
        assert!(reply_to_solicitation(&ns, OURS, &[ip("2001:db8:1::9")], false).is_none());
        let na = reply_to_solicitation(&ns, OURS, &[ip("2001:db8:1::1")], true).expect("ours");
        assert_eq!(icmpv6(&na), TYPE_NEIGHBOR_ADVERTISEMENT);
        let parsed = parse(&na).unwrap();
        assert_eq!((parsed.dst_mac, parsed.dst_ip), (HOST, ip("2001:db8:1::2")));
        assert_eq!(
            parsed.message,
            NdpMessage::NeighborAdvertisement {
                target: ip("2001:db8:1::1"),
                router: true,
                solicited: true,
                overrides: true,
                target_link_addr: Some(OURS)
            }
        );
        // Duplicate address detection: the asker has no address yet, so the answer goes to all nodes, S=0.
        let mut dad = ns.clone();
        dad.src_ip = Ipv6Addr::UNSPECIFIED;
        let na = parse(&reply_to_solicitation(&dad, OURS, &[ip("2001:db8:1::1")], false).unwrap()).unwrap();
        assert_eq!(na.dst_ip, ALL_NODES);
        assert!(matches!(na.message, NdpMessage::NeighborAdvertisement { solicited: false, .. }));
    }

    #[test]
    fn router_advertisement_carries_the_prefix_for_slaac() {
        let advert = RouterAdvertisement {
            router_lifetime_s: 1800,
            source_link_addr: Some(OURS),
            mtu: Some(1452),
            prefixes: vec![PrefixInfo {
                prefix: ip("2001:db8:aaaa:1::"),
                len: 64,
                on_link: true,
                autonomous: true,
                valid_lifetime_s: 86400,
                preferred_lifetime_s: 14400,
            }],
        };
        let frame = router_advertisement(OURS, &link_local_from_mac(OURS), HOST, &ip("fe80::2"), &advert);
        assert_eq!(icmpv6(&frame), TYPE_ROUTER_ADVERTISEMENT);
        let parsed = parse(&frame).unwrap();
        assert_eq!(parsed.src_ip, ip("fe80::ff:fe00:1"));
        assert_eq!(parsed.message, NdpMessage::RouterAdvertisement(advert));
    }

    #[test]
    fn invalid_messages_are_refused() {
        let good = neighbor_solicitation(OURS, &ip("2001:db8:1::1"), &ip("2001:db8:1::2"));
        for len in 0..good.len() {
            assert!(parse(&good[..len]).is_err(), "truncated at {len}");
        }
        let mut routed = good.clone();
        routed[14 + 7] = 64;
        assert_eq!(parse(&routed), Err(NdpError::HopLimit(64)));
        let mut corrupt = good.clone();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 1;
        assert_eq!(parse(&corrupt), Err(NdpError::Checksum));
        let mut zero_option = good.clone();
        zero_option[14 + 40 + 24 + 1] = 0;
        assert!(parse(&zero_option).is_err(), "a zero-length option is invalid (and breaks the checksum)");
    }

    #[test]
    fn link_local_is_modified_eui64() {
        assert_eq!(link_local_from_mac(MacAddr([0x00, 0x1b, 0x21, 0x3c, 0x4d, 0x5e])), ip("fe80::21b:21ff:fe3c:4d5e"));
    }
}
