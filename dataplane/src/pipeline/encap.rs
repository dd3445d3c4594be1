//! Encapsulation: outer IPv4 or IPv6 header and a keyed GRE header prepended into the headroom.

use super::decap::forward_one_hop;
use super::{Action, Direction, Family, FastPath, Inner, Verdict};
use crate::binding::{Binding, BindingId, TunnelEndpoints};
use crate::counters::DropReason;
use crate::packet::PacketBuf;
use crate::wire::ethernet::MacAddr;
use crate::wire::ipv4::{self, OuterIpv4};
use crate::wire::ipv6::{self, OuterIpv6};
use crate::wire::{array_at_mut, ecn, ethernet, gre};

/// An encapsulation, fully decided.
pub(super) struct Plan<'t> {
    id: BindingId,
    binding: &'t Binding,
    direction: Direction,
    key: u32,
    egress: usize,
    next_hop: MacAddr,
    inner: Inner,
}

/// Outer IP header plus keyed GRE header: 28 over IPv4, 48 over IPv6 (pmipv6.md §3.6).
fn overhead(tunnel: &TunnelEndpoints) -> usize {
    gre::KEYED_HEADER_LEN
        + match tunnel {
            TunnelEndpoints::Ipv4 { .. } => ipv4::MIN_HEADER_LEN,
            TunnelEndpoints::Ipv6 { .. } => ipv6::HEADER_LEN,
        }
}

impl FastPath {
    /// Decides an encapsulation towards the binding's peer, out of the `core` port.
    pub(super) fn plan_encap<'t>(
        &'t self,
        direction: Direction,
        (id, binding): (BindingId, &'t Binding),
        inner: Inner,
        headroom: usize,
    ) -> Result<Action<'t>, DropReason> {
        // Only a MAG binding can lack its sending key: the uplink key may not have arrived yet (TS 29.275 §6.2).
        let key = binding.tx_key().ok_or(DropReason::NoUplinkKey)?;
        let egress = self.egress.core.ok_or(DropReason::NoEgressPort)?;
        if inner.ttl <= 1 {
            return Err(DropReason::TtlExpired);
        }
        let overhead = overhead(&binding.tunnel);
        if overhead + inner.len > usize::from(self.port(egress)?.mtu) {
            return Err(DropReason::OverMtu);
        }
        if headroom < overhead {
            return Err(DropReason::NoHeadroom);
        }
        let outer_family = match binding.tunnel {
            TunnelEndpoints::Ipv4 { .. } => Family::Ipv4,
            TunnelEndpoints::Ipv6 { .. } => Family::Ipv6,
        };
        let next_hop = self.next_hop(binding.next_hop.core, egress, outer_family)?;
        Ok(Action::Encapsulate(Plan { id, binding, direction, key, egress, next_hop, inner }))
    }

    /// Forwards the inner packet one hop, cuts link padding, prepends the outer headers and rewrites the
    /// Ethernet header for the `core` next hop (the binding's peer, or the port's router).
    pub(super) fn encapsulate<P: PacketBuf>(&self, plan: &Plan<'_>, packet: &mut P) -> Result<Verdict, DropReason> {
        let port = self.port(plan.egress)?;
        let padding = packet.data().len().saturating_sub(ethernet::HEADER_LEN + plan.inner.len);
        if !packet.trim(padding) {
            return Err(DropReason::InnerMalformed);
        }
        forward_one_hop(packet.data_mut(), plan.inner.family, None)?;
        let overhead = overhead(&plan.binding.tunnel);
        packet.prepend(overhead).ok_or(DropReason::NoHeadroom)?;

        let data = packet.data_mut();
        let gre_len = gre::KEYED_HEADER_LEN as u16;
        // Fits: the MTU check bounded overhead + inner length by a u16.
        let payload_len = gre_len + plan.inner.len as u16;
        let outer_ecn = ecn::on_encapsulation(plan.inner.ecn);
        let (outer_ethertype, offload) = match plan.binding.tunnel {
            TunnelEndpoints::Ipv4 { local, remote } => {
                let header = array_at_mut(data, ethernet::HEADER_LEN).ok_or(DropReason::NoHeadroom)?;
                ipv4::write_header(
                    header,
                    &OuterIpv4 {
                        src: local,
                        dst: remote,
                        protocol: ipv4::PROTOCOL_GRE,
                        ttl: self.outer_hop_limit,
                        ecn: outer_ecn,
                        payload_len,
                        checksum_offloaded: port.tx_ipv4_checksum_offload,
                    },
                );
                (ethernet::ETHERTYPE_IPV4, port.tx_ipv4_checksum_offload)
            }
            TunnelEndpoints::Ipv6 { local, remote } => {
                let header = array_at_mut(data, ethernet::HEADER_LEN).ok_or(DropReason::NoHeadroom)?;
                ipv6::write_header(
                    header,
                    &OuterIpv6 {
                        src: local,
                        dst: remote,
                        next_header: ipv6::NEXT_HEADER_GRE,
                        hop_limit: self.outer_hop_limit,
                        ecn: outer_ecn,
                        payload_len,
                    },
                );
                (ethernet::ETHERTYPE_IPV6, false)
            }
        };
        let gre_header = array_at_mut(data, ethernet::HEADER_LEN + overhead - gre::KEYED_HEADER_LEN)
            .ok_or(DropReason::NoHeadroom)?;
        gre::write_keyed(gre_header, plan.inner.family.ethertype(), plan.key);
        let eth_header = array_at_mut(data, 0).ok_or(DropReason::NoHeadroom)?;
        ethernet::write_header(eth_header, plan.next_hop, port.mac, outer_ethertype);
        if offload {
            packet.request_tx_ipv4_checksum(ethernet::HEADER_LEN as u8, ipv4::MIN_HEADER_LEN as u8);
        }
        self.counters.path.encapsulated.add(1);
        self.count_binding(plan.id, plan.direction, plan.inner.len);
        Ok(Verdict::Forward(plan.egress))
    }
}
