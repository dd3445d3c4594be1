//! The benchmark's traffic model: which bindings exist for N, and the frame each direction carries for binding `i`.
//!
//! Every figure (criterion, throughput harness, churn, pktgen pcaps) uses this one model, so a key, an address
//! or a frame layout means the same thing everywhere. Binding `i` (0-based) has:
//!
//! | field | value |
//! |---|---|
//! | uplink GRE key | `0x1000_0000 + i` (low bit = worker `i % 2` in the two-worker runs) |
//! | downlink GRE key | `0x2000_0000 + i` |
//! | UE IPv4 | `10.0.0.0 + i + 1` |
//! | UE IPv6 prefix | `2001:db8:(0x8000 + (i >> 16)):(i & 0xffff)::/64`, UE address `…::1` |
//! | tunnel | one MAG (Proxy-CoA `2001:db8:1::1` / `192.0.2.1`) and one LMA (`2001:db8:2::1` / `198.51.100.1`) |
//!
//! Bindings are dual-stack (IPv4 address and IPv6 prefix): the largest table footprint per binding. The inner
//! packet's family follows the tunnel's (IPv4 in IPv4 GRE, IPv6 in IPv6 GRE), so the eight scenarios cover both
//! outer and both inner families.

use dataplane::binding::{Binding, Function, TunnelEndpoints, Way};
use dataplane::nexthop::IpFamily;
use dataplane::wire::checksum;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const LMAA6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 1);
pub const PCOA6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
pub const LMAA4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
pub const PCOA4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// The correspondent node on the PDN side.
pub const CN4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 53);
pub const CN6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 1);
/// Source and destination MACs of generated frames (the gateway does not check them: ports are promiscuous).
pub const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x99];
pub const GATEWAY_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x10];
/// The next hop the gateway writes as destination.
pub const NEXT_HOP_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x20];

pub const UDP_SRC_PORT: u16 = 40000;
pub const UDP_DST_PORT: u16 = 9;

/// One direction through one function over one outer family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Direction {
    pub function: Function,
    pub way: Way,
    pub family: IpFamily,
}

impl Direction {
    /// All eight, LMA first.
    pub const ALL: [Direction; 8] = {
        const fn d(function: Function, way: Way, family: IpFamily) -> Direction {
            Direction { function, way, family }
        }
        [
            d(Function::Lma, Way::Uplink, IpFamily::V6),
            d(Function::Lma, Way::Uplink, IpFamily::V4),
            d(Function::Lma, Way::Downlink, IpFamily::V6),
            d(Function::Lma, Way::Downlink, IpFamily::V4),
            d(Function::Mag, Way::Uplink, IpFamily::V6),
            d(Function::Mag, Way::Uplink, IpFamily::V4),
            d(Function::Mag, Way::Downlink, IpFamily::V6),
            d(Function::Mag, Way::Downlink, IpFamily::V4),
        ]
    };

    /// Does the gateway encapsulate (true) or decapsulate?
    pub fn encapsulates(self) -> bool {
        matches!((self.function, self.way), (Function::Lma, Way::Downlink) | (Function::Mag, Way::Uplink))
    }

    /// Does the received frame carry GRE?
    pub fn receives_gre(self) -> bool {
        !self.encapsulates()
    }

    /// Parses the `Display` form, e.g. `lma-up-v6`.
    pub fn parse(text: &str) -> Option<Direction> {
        Direction::ALL.into_iter().find(|d| d.to_string() == text)
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let function = match self.function {
            Function::Lma => "lma",
            Function::Mag => "mag",
        };
        let way = match self.way {
            Way::Uplink => "up",
            Way::Downlink => "down",
        };
        let family = match self.family {
            IpFamily::V4 => "v4",
            IpFamily::V6 => "v6",
        };
        write!(f, "{function}-{way}-{family}")
    }
}

pub fn uplink_key(i: u32) -> u32 {
    0x1000_0000 + i
}
pub fn downlink_key(i: u32) -> u32 {
    0x2000_0000 + i
}
pub fn ue_ipv4(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 0, 0, 0)) + i + 1)
}
/// Inside 2001:db8:8000::/33, clear of the gateway's own addresses (2001:db8:1::1, 2001:db8:2::1) and the CN.
pub fn ue_prefix(i: u32) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0x8000 | (i >> 16) as u16, i as u16, 0, 0, 0, 0)
}
pub fn ue_ipv6(i: u32) -> Ipv6Addr {
    Ipv6Addr::from(u128::from(ue_prefix(i)) | 1)
}

/// The tunnel endpoints of `function` over `family`, `local` being this gateway.
pub fn endpoints(function: Function, family: IpFamily) -> TunnelEndpoints {
    match (function, family) {
        (Function::Lma, IpFamily::V6) => TunnelEndpoints::Ipv6 { local: LMAA6, remote: PCOA6 },
        (Function::Lma, IpFamily::V4) => TunnelEndpoints::Ipv4 { local: LMAA4, remote: PCOA4 },
        (Function::Mag, IpFamily::V6) => TunnelEndpoints::Ipv6 { local: PCOA6, remote: LMAA6 },
        (Function::Mag, IpFamily::V4) => TunnelEndpoints::Ipv4 { local: PCOA4, remote: LMAA4 },
    }
}

/// This gateway's tunnel address when it plays `function` over `family` (an LMAA or a Proxy-CoA).
pub fn local_address(function: Function, family: IpFamily) -> IpAddr {
    match endpoints(function, family) {
        TunnelEndpoints::Ipv4 { local, .. } => local.into(),
        TunnelEndpoints::Ipv6 { local, .. } => local.into(),
    }
}

/// Binding `i` of a gateway playing `function` with tunnels over `family`.
pub fn binding(function: Function, family: IpFamily, i: u32) -> Binding {
    Binding {
        function,
        tunnel: endpoints(function, family),
        uplink_key: Some(uplink_key(i)),
        downlink_key: Some(downlink_key(i)),
        ue_ipv4: Some(ue_ipv4(i)),
        ue_ipv6_prefix: Some(ue_prefix(i)),
        next_hop: Default::default(),
    }
}

/// The frame the gateway receives for binding `i` in `direction`, whose inner IP packet is `inner_len` bytes
/// (IP total length, at least 48: a UDP packet with an IPv6 header needs 48).
pub fn frame(direction: Direction, i: u32, inner_len: usize) -> Vec<u8> {
    let ue_to_cn = direction.way == Way::Uplink;
    let inner = inner_packet(direction.family, ue_to_cn, i, inner_len);
    if !direction.receives_gre() {
        return ethernet(ethertype(direction.family), &inner);
    }
    let key = match direction.function {
        Function::Lma => uplink_key(i),
        Function::Mag => downlink_key(i),
    };
    let mut gre = Vec::with_capacity(8 + inner.len());
    gre.extend_from_slice(&0x2000u16.to_be_bytes()); // K bit, version 0
    gre.extend_from_slice(&ethertype(direction.family).to_be_bytes());
    gre.extend_from_slice(&key.to_be_bytes());
    gre.extend_from_slice(&inner);
    // The outer packet goes from the peer to this gateway.
    let outer = match endpoints(direction.function, direction.family) {
        TunnelEndpoints::Ipv4 { local, remote } => ipv4(remote, local, 47, &gre),
        TunnelEndpoints::Ipv6 { local, remote } => ipv6(remote, local, 47, &gre),
    };
    ethernet(ethertype(direction.family), &outer)
}

/// Frame bytes on the wire for `direction` with an inner packet of `inner_len` (without FCS).
pub fn frame_len(direction: Direction, inner_len: usize) -> usize {
    let outer = if direction.receives_gre() {
        8 + match direction.family {
            IpFamily::V4 => 20,
            IpFamily::V6 => 40,
        }
    } else {
        0
    };
    14 + outer + inner_len
}

fn ethertype(family: IpFamily) -> u16 {
    match family {
        IpFamily::V4 => 0x0800,
        IpFamily::V6 => 0x86dd,
    }
}

/// A UDP packet between UE `i` and the correspondent node, `len` bytes of IP.
fn inner_packet(family: IpFamily, ue_to_cn: bool, i: u32, len: usize) -> Vec<u8> {
    match family {
        IpFamily::V4 => {
            let (src, dst) = if ue_to_cn { (ue_ipv4(i), CN4) } else { (CN4, ue_ipv4(i)) };
            let udp = udp(&src.octets(), &dst.octets(), len - 20);
            ipv4(src, dst, 17, &udp)
        }
        IpFamily::V6 => {
            let (src, dst) = if ue_to_cn { (ue_ipv6(i), CN6) } else { (CN6, ue_ipv6(i)) };
            let udp = udp(&src.octets(), &dst.octets(), len - 40);
            ipv6(src, dst, 17, &udp)
        }
    }
}

/// A UDP datagram of `len` bytes (header included) with a zero payload and a correct checksum.
fn udp(src: &[u8], dst: &[u8], len: usize) -> Vec<u8> {
    let mut udp = vec![0u8; len];
    udp[0..2].copy_from_slice(&UDP_SRC_PORT.to_be_bytes());
    udp[2..4].copy_from_slice(&UDP_DST_PORT.to_be_bytes());
    udp[4..6].copy_from_slice(&(len as u16).to_be_bytes());
    let mut pseudo = Vec::with_capacity(40);
    pseudo.extend_from_slice(src);
    pseudo.extend_from_slice(dst);
    pseudo.extend_from_slice(&[0, 17]);
    pseudo.extend_from_slice(&(len as u16).to_be_bytes());
    let sum = checksum::combine(checksum::sum(&pseudo), checksum::sum(&udp));
    let value = match !sum {
        0 => 0xffff,
        v => v,
    };
    udp[6..8].copy_from_slice(&value.to_be_bytes());
    udp
}

fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(20 + payload.len());
    p.extend_from_slice(&[0x45, 0]);
    p.extend_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0, 0x40, 0, 64, protocol, 0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let sum = checksum::checksum(&p);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(40 + payload.len());
    p.extend_from_slice(&[0x60, 0, 0, 0]);
    p.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    p.extend_from_slice(&[next_header, 64]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(payload);
    p
}

fn ethernet(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&GATEWAY_MAC);
    f.extend_from_slice(&PEER_MAC);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};

    #[test]
    fn names_round_trip() {
        for d in Direction::ALL {
            assert_eq!(Direction::parse(&d.to_string()), Some(d));
        }
        assert_eq!(Direction::ALL.iter().filter(|d| d.encapsulates()).count(), 4);
    }

    #[test]
    fn bindings_are_valid_and_distinct() {
        for function in [Function::Lma, Function::Mag] {
            for family in [IpFamily::V4, IpFamily::V6] {
                binding(function, family, 0).validate().unwrap();
                binding(function, family, 999_999).validate().unwrap();
            }
        }
        assert_ne!(ue_prefix(0x1_0000), ue_prefix(0));
        assert_eq!(ue_ipv4(0), Ipv4Addr::new(10, 0, 0, 1));
        // No UE address is one of the gateway's own or the correspondent's, at any N used.
        for i in [0, 0x1_0000, 0x2_0000, 999_999, 0xf_ffff] {
            for own in [LMAA6, PCOA6, CN6] {
                assert_ne!(ue_ipv6(i), own, "binding {i}");
                assert_ne!(ue_prefix(i).octets()[..8], own.octets()[..8], "binding {i}");
            }
        }
    }

    /// Every generated frame decodes with etherparse, with correct checksums and the expected lengths.
    #[test]
    fn frames_decode_with_the_right_keys_and_addresses() {
        for d in Direction::ALL {
            for len in [64, 512] {
                let i = 70_000;
                let f = frame(d, i, len);
                assert_eq!(f.len(), frame_len(d, len), "{d}");
                let p = SlicedPacket::from_ethernet(&f).unwrap();
                if d.receives_gre() {
                    let (gre_payload, outer_dst) = match p.net.unwrap() {
                        NetSlice::Ipv4(ip) => {
                            assert!(ip.header().header_checksum() != 0);
                            (ip.payload().payload, std::net::IpAddr::from(ip.header().destination_addr()))
                        }
                        NetSlice::Ipv6(ip) => (ip.payload().payload, ip.header().destination_addr().into()),
                    };
                    assert_eq!(outer_dst, local_address(d.function, d.family));
                    let key = u32::from_be_bytes(gre_payload[4..8].try_into().unwrap());
                    let want = if d.function == Function::Lma { uplink_key(i) } else { downlink_key(i) };
                    assert_eq!(key, want, "{d}");
                    assert_eq!(gre_payload.len() - 8, len);
                    let inner = SlicedPacket::from_ip(&gre_payload[8..]).unwrap();
                    assert!(matches!(inner.transport, Some(TransportSlice::Udp(_))));
                } else {
                    assert_eq!(f.len() - 14, len);
                    assert!(matches!(p.transport, Some(TransportSlice::Udp(_))));
                }
            }
        }
    }
}
