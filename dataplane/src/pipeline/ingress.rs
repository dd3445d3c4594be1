//! Planning, first half: what arrived, and whether it is for us, for the control thread or for a UE.

use super::{decap::GreOuter, Action, Direction, Family, FastPath, Inner, Roles};
use crate::binding::Function;
use crate::counters::DropReason;
use crate::packet::{PacketBuf, RxChecksum};
use crate::wire::ethernet::{self, EthernetHeader};
use crate::wire::icmp::*;
use crate::wire::ipv4::{self, Ipv4Packet};
use crate::wire::ipv6::{self, ExtensionHeaderError, Ipv6Packet};
use crate::wire::{array_at, ipv6::prefix64};

/// PMIPv6 signalling over IPv4-UDP (RFC 5844 §4; the 3GPP IPv4-UDP form too, pmipv6.md §5.1).
const PMIP6_CONTROL_PORT: u16 = 5436;

impl FastPath {
    /// Reads the packet and the tables; decides everything, changes nothing.
    pub(super) fn plan<P: PacketBuf>(&self, roles: Roles, packet: &P) -> Result<Action<'_>, DropReason> {
        let frame = packet.data();
        let header = EthernetHeader::parse(frame).ok_or(DropReason::EthernetTruncated)?;
        match header.ethertype() {
            ethernet::ETHERTYPE_IPV4 => self.plan_ipv4(roles, frame, packet.rx_ipv4_checksum(), packet.headroom()),
            ethernet::ETHERTYPE_IPV6 => self.plan_ipv6(roles, frame, packet.headroom()),
            // Address resolution for our addresses (and, later, proxy ARP for UEs) is the control thread's job.
            ethernet::ETHERTYPE_ARP => Ok(Action::Punt),
            _ => Err(DropReason::UnsupportedEthertype),
        }
    }

    fn plan_ipv4(
        &self,
        roles: Roles,
        frame: &[u8],
        nic_checksum: RxChecksum,
        headroom: usize,
    ) -> Result<Action<'_>, DropReason> {
        let l3 = frame.get(ethernet::HEADER_LEN..).unwrap_or_default();
        let ip = Ipv4Packet::parse(l3).map_err(|_| DropReason::Ipv4Malformed)?;
        let checksum_ok = match nic_checksum {
            RxChecksum::Good => true,
            RxChecksum::Bad => false,
            RxChecksum::Unknown => ip.header_checksum_ok(),
        };
        if !checksum_ok {
            return Err(DropReason::Ipv4Checksum);
        }
        let dst = u32::from(ip.dst());
        let local = self.local.ipv4(dst);
        if local.any() {
            if ip.is_fragment() {
                return Err(DropReason::Fragment);
            }
            let l4 = ip.payload();
            return match ip.protocol() {
                ipv4::PROTOCOL_GRE if roles.core && local.tunnel() => self.plan_gre(
                    &GreOuter {
                        local,
                        src: ip.src().to_ipv6_mapped().octets(),
                        ecn: ip.ecn(),
                        gre_offset: ethernet::HEADER_LEN + ip.header_len(),
                        end: ethernet::HEADER_LEN + ip.total_len(),
                    },
                    frame,
                ),
                ipv4::PROTOCOL_UDP if local.tunnel() && udp_destination_port(l4) == Some(PMIP6_CONTROL_PORT) => {
                    Ok(Action::Punt)
                }
                ipv4::PROTOCOL_ICMP if matches!(l4.first(), Some(&(ICMP_ECHO_REQUEST | ICMP_ECHO_REPLY))) => {
                    Ok(Action::Punt)
                }
                // The 3GPP IPv4 form of signalling: IPv6 with a Mobility Header inside IPv4 (pmipv6.md §5.1).
                ipv4::PROTOCOL_IPV6 if local.tunnel() && carries_mobility_header(l4) => Ok(Action::Punt),
                _ => Err(DropReason::LocalUnsupported),
            };
        }
        let inner = Inner { family: Family::Ipv4, len: ip.total_len(), ttl: ip.ttl(), ecn: ip.ecn() };
        let table = self.tables.table();
        if roles.sgi {
            if let Some(found) = table.by_ue_ipv4(Function::Lma, dst) {
                return self.plan_encap(Direction::LmaDownlink, found, inner, headroom);
            }
        }
        if roles.access {
            if let Some(found) = table.by_ue_ipv4(Function::Mag, u32::from(ip.src())) {
                return self.plan_encap(Direction::MagUplink, found, inner, headroom);
            }
        }
        Err(unrouted(roles))
    }

    fn plan_ipv6(&self, roles: Roles, frame: &[u8], headroom: usize) -> Result<Action<'_>, DropReason> {
        let l3 = frame.get(ethernet::HEADER_LEN..).unwrap_or_default();
        let ip = Ipv6Packet::parse(l3).map_err(|_| DropReason::Ipv6Malformed)?;
        let dst = ip.dst_octets();
        let local = self.local.ipv6(&dst);
        if local.any() || is_link_scope(&dst) {
            let (protocol, offset) = ipv6::upper_layer(ip.next_header(), ip.payload()).map_err(|e| match e {
                ExtensionHeaderError::Fragment => DropReason::Fragment,
                ExtensionHeaderError::Unsupported => DropReason::Ipv6ExtensionHeader,
            })?;
            let l4 = ip.payload().get(offset..).unwrap_or_default();
            let unhandled = if local.any() { DropReason::LocalUnsupported } else { DropReason::LinkScope };
            return match protocol {
                ipv6::NEXT_HEADER_GRE if local.tunnel() && roles.core => self.plan_gre(
                    &GreOuter {
                        local,
                        src: ip.src_octets(),
                        ecn: ip.ecn(),
                        gre_offset: ethernet::HEADER_LEN + ipv6::HEADER_LEN + offset,
                        end: ethernet::HEADER_LEN + ip.total_len(),
                    },
                    frame,
                ),
                ipv6::NEXT_HEADER_MOBILITY if local.tunnel() => Ok(Action::Punt),
                ipv6::NEXT_HEADER_UDP if local.tunnel() && udp_destination_port(l4) == Some(PMIP6_CONTROL_PORT) => {
                    Ok(Action::Punt)
                }
                ipv6::NEXT_HEADER_ICMPV6 => match l4.first() {
                    // Neighbour discovery is link-local by nature (hop limit 255): whatever its destination.
                    Some(
                        &(ICMPV6_ROUTER_SOLICITATION | ICMPV6_NEIGHBOR_SOLICITATION | ICMPV6_NEIGHBOR_ADVERTISEMENT),
                    ) => Ok(Action::Punt),
                    Some(&(ICMPV6_ECHO_REQUEST | ICMPV6_ECHO_REPLY)) if local.any() => Ok(Action::Punt),
                    _ => Err(unhandled),
                },
                _ => Err(unhandled),
            };
        }
        let inner = Inner { family: Family::Ipv6, len: ip.total_len(), ttl: ip.hop_limit(), ecn: ip.ecn() };
        let table = self.tables.table();
        if roles.sgi {
            if let Some(found) = table.by_ue_prefix64(Function::Lma, prefix64(&dst)) {
                return self.plan_encap(Direction::LmaDownlink, found, inner, headroom);
            }
        }
        if roles.access {
            if let Some(found) = table.by_ue_prefix64(Function::Mag, prefix64(&ip.src_octets())) {
                return self.plan_encap(Direction::MagUplink, found, inner, headroom);
            }
        }
        Err(unrouted(roles))
    }
}

/// Traffic for someone else that matched no binding: on a UE- or PDN-facing port it is a UE without a binding;
/// on a `core`-only port it should not have reached us at all.
fn unrouted(roles: Roles) -> DropReason {
    if roles.sgi || roles.access {
        DropReason::NoBinding
    } else {
        DropReason::NotOurAddress
    }
}

fn udp_destination_port(l4: &[u8]) -> Option<u16> {
    array_at::<2>(l4, 2).map(|port| u16::from_be_bytes(*port))
}

/// An IPv6 header whose next header is a Mobility Header.
fn carries_mobility_header(l4: &[u8]) -> bool {
    l4.first().is_some_and(|b| b >> 4 == 6) && l4.get(6) == Some(&ipv6::NEXT_HEADER_MOBILITY)
}

/// Link-local unicast (fe80::/10) or link-scope multicast (ff02::/16, e.g. solicited-node, all-routers):
/// addresses a router never forwards.
fn is_link_scope(address: &[u8; 16]) -> bool {
    (address[0] == 0xfe && address[1] & 0xc0 == 0x80) || (address[0] == 0xff && address[1] & 0x0f == 0x02)
}
