//! Stage 3 for plain IP: confirm the binding by UE address, decide, and encapsulate with the record's template.

use super::decap::forward_one_hop;
use super::fragment::Plan;
use super::ingress::{unrouted, Pending};
use super::{BurstContext, Direction, FastPath, IpFamily, Next, Roles, Tally};
use crate::binding::Function;
use crate::counters::DropReason;
use crate::packet::PacketBuf;
use crate::tables::{flag, Record, TEMPLATE_LEN_V4, TEMPLATE_LEN_V6};
use crate::wire::{ecn, ethernet};

impl FastPath {
    /// LMA downlink (on `sgi`, by destination) or MAG uplink (on `access`, by source): checks the sending key,
    /// egress, TTL, MTU, headroom and next hop, forwards the inner packet one hop, cuts link padding, and writes
    /// the outer headers in front of it. Without `FIT`, a packet larger than the MTU is encapsulated all the same
    /// (the caller fragments it).
    #[inline(always)]
    pub(super) fn encapsulate<P: PacketBuf, const FIT: bool>(
        &self,
        context: &BurstContext,
        work: &Pending,
        packet: &mut P,
        tally: &mut Tally,
    ) -> Result<Next, DropReason> {
        let (record, direction) = self.find_ue(context, work).ok_or_else(|| unrouted(context.roles))?;
        let flags = record.flags();
        // Only a MAG binding can lack its sending key: the uplink key may not have arrived yet (TS 29.275 §6.2).
        if flags & flag::TX == 0 {
            return Err(DropReason::NoUplinkKey);
        }
        let out = context.core.as_ref().ok_or(DropReason::NoEgressPort)?;
        if work.ttl <= 1 {
            return Err(DropReason::TtlExpired);
        }
        let (template_len, outer_family) = if flags & flag::OUTER_IPV6 != 0 {
            (TEMPLATE_LEN_V6, IpFamily::V6)
        } else {
            (TEMPLATE_LEN_V4, IpFamily::V4)
        };
        let overhead = template_len - ethernet::HEADER_LEN;
        let inner_len = usize::from(work.inner_len);
        if FIT && overhead + inner_len > out.mtu {
            return Err(DropReason::OverMtu);
        }
        // Too big, to be cut (`fragment.rs`): the binding counts the pieces that will go into the tunnel.
        let (packets, bytes) = if FIT {
            (1, inner_len)
        } else {
            let ip = packet.data().get(ethernet::HEADER_LEN..).unwrap_or_default();
            let plan = Plan::new(ip, out.mtu.saturating_sub(overhead)).ok_or(DropReason::OverMtu)?;
            (plan.pieces, plan.bytes())
        };
        if packet.headroom() < overhead {
            return Err(DropReason::NoHeadroom);
        }
        let core_mac = if flags & flag::CORE_MAC_FROM_PORT != 0 {
            Some(out.header(outer_family).ok_or(DropReason::NextHopUnresolved)?)
        } else {
            None
        };

        // Link padding behind the packet goes.
        if !packet.keep(0, ethernet::HEADER_LEN + inner_len) {
            return Err(DropReason::InnerMalformed);
        }
        forward_one_hop(packet.data_mut(), work.family, None)?;
        packet.prepend(overhead).ok_or(DropReason::NoHeadroom)?;
        let outer_tos = (work.inner_tos & out.dscp_mask) | ecn::on_encapsulation(work.inner_tos);
        record
            .write_outer(flags, packet.data_mut(), core_mac, work.family.ethertype(), inner_len, outer_tos)
            .ok_or(DropReason::NoHeadroom)?;
        if flags & flag::CHECKSUM_OFFLOAD != 0 {
            packet.request_tx_ipv4_checksum(ethernet::HEADER_LEN as u8, crate::wire::ipv4::MIN_HEADER_LEN as u8);
        }
        tally.encapsulated += packets as u64;
        self.count_binding(record, direction, packets, bytes);
        Ok(Next::forward(out.port))
    }

    /// The binding of a plain packet: stage 2's candidate when the record confirms it, else every lookup the
    /// rx port's roles allow, in order (LMA by destination on `sgi`, MAG by source on `access`).
    #[inline(always)]
    pub(super) fn find_ue(&self, context: &BurstContext, work: &Pending) -> Option<(&Record, Direction)> {
        let plain = &context.plain;
        let ipv6 = work.family == IpFamily::V6;
        let value = if plain.by_destination { work.ue_dst } else { work.ue_src };
        let flags = plain.flags[work.family as usize & 1];
        if let Some(record) = self.tables.record(work.slot).filter(|record| record.serves_as(flags, ipv6, value)) {
            return Some((record, plain.direction));
        }
        self.find_ue_again(context.roles, ipv6, work)
    }

    /// Past a false signature match, or on a port with both UE-facing roles: every lookup, in order.
    #[inline(never)]
    fn find_ue_again(&self, roles: Roles, ipv6: bool, work: &Pending) -> Option<(&Record, Direction)> {
        let tables = &self.tables;
        if roles.sgi {
            if let Some((_, record)) = tables.ue_record(Function::Lma, ipv6, work.ue_dst) {
                return Some((record, Direction::LmaDownlink));
            }
        }
        if roles.access {
            if let Some((_, record)) = tables.ue_record(Function::Mag, ipv6, work.ue_src) {
                return Some((record, Direction::MagUplink));
            }
        }
        None
    }
}
