//! Stage 3 for GRE: confirm the binding, apply the rest of the receive rules, decapsulate.

use super::fragment::Plan;
use super::ingress::Pending;
use super::{BurstContext, Direction, FastPath, IpFamily, Next, Tally};
use crate::binding::Function;
use crate::counters::DropReason;
use crate::packet::PacketBuf;
use crate::tables::{Record, UeFlags};

/// What an LMA binding's record must have to own an uplink packet's inner source, per family.
pub(super) const LMA_UE: [UeFlags; 2] = UeFlags::per_family(Function::Lma);
use crate::wire::ipv4;
use crate::wire::ipv6;
use crate::wire::{array_at_mut, ecn, ethernet};

impl FastPath {
    /// Finds the binding — by uplink key alone on an LMAA (TS 29.275 §6.3: the outer source is not checked), by
    /// (LMAA, downlink key) on a Proxy-CoA (§6.2: downlink keys are unique per LMAA only); an address that is both
    /// tries the LMA first — then checks the inner packet, its source (LMA), egress, TTL and MTU, and strips
    /// everything in front of the inner packet and the padding behind it, writes a fresh Ethernet header in the
    /// last 14 bytes of what was stripped, and forwards the inner packet one hop. Without `FIT`, a packet larger
    /// than the MTU is decapsulated all the same (the caller fragments it).
    #[inline(always)]
    pub(super) fn decapsulate<P: PacketBuf, const FIT: bool>(
        &self,
        context: &BurstContext,
        work: &Pending,
        packet: &mut P,
        tally: &mut Tally,
    ) -> Result<Next, DropReason> {
        let frame = packet.data();
        let (record, direction) = self.tunnel_binding(work, frame)?;
        if work.inner_malformed {
            return Err(DropReason::InnerMalformed);
        }
        // LMA uplink goes to the SGi router; MAG downlink to the UE itself.
        let (out, binding_mac) = if direction == Direction::LmaUplink {
            let ipv6 = work.family == IpFamily::V6;
            if self.inner_source_check && !record.serves_as(LMA_UE[usize::from(ipv6)], ipv6, work.ue_src) {
                return Err(DropReason::InnerSourceMismatch);
            }
            (context.sgi.as_ref(), None)
        } else {
            (context.access.as_ref(), record.access_mac())
        };
        let out = out.ok_or(DropReason::NoEgressPort)?;
        if work.ttl <= 1 {
            return Err(DropReason::TtlExpired);
        }
        let inner_len = usize::from(work.inner_len);
        if FIT && inner_len > out.mtu {
            return Err(DropReason::OverMtu);
        }
        // Too big, to be cut (`fragment.rs`): the binding counts the pieces that will leave.
        let (packets, bytes) = if FIT {
            (1, inner_len)
        } else {
            let ip = frame.get(usize::from(work.inner_at)..).unwrap_or_default();
            let plan = Plan::new(ip, out.mtu).ok_or(DropReason::OverMtu)?;
            (plan.pieces, plan.bytes())
        };
        if !out.reaches(work.family, binding_mac) {
            return Err(DropReason::NextHopUnresolved);
        }
        let new_ecn = ecn::on_decapsulation(work.outer_ecn, work.inner_tos).ok_or(DropReason::CeOnNotEct)?;

        // Everything in front of the inner packet goes but room for an Ethernet header, and the padding behind.
        let strip = usize::from(work.inner_at).saturating_sub(ethernet::HEADER_LEN);
        if !packet.keep(strip, ethernet::HEADER_LEN + inner_len) {
            return Err(DropReason::InnerMalformed);
        }
        let data = packet.data_mut();
        out.write_header(work.family, binding_mac, array_at_mut(data, 0).ok_or(DropReason::InnerMalformed)?);
        forward_one_hop(data, work.family, (new_ecn != work.inner_tos & 0x03).then_some(new_ecn))?;
        tally.decapsulated += packets as u64;
        self.count_binding(record, direction, packets, bytes);
        Ok(Next::forward(out.port))
    }

    /// The binding a GRE packet belongs to, and which way it is going (see [`FastPath::decapsulate`]).
    #[inline(always)]
    pub(super) fn tunnel_binding(&self, work: &Pending, frame: &[u8]) -> Result<(&Record, Direction), DropReason> {
        let tables = &self.tables;
        if work.lmaa {
            if let Some((_, record)) = tables.rx_record(Function::Lma, work.key, &[]) {
                return Ok((record, Direction::LmaUplink));
            }
        }
        if work.proxy_coa {
            let src_at = usize::from(work.src_at);
            let src = frame.get(src_at..src_at + usize::from(work.src_len)).unwrap_or_default();
            if let Some((_, record)) = tables.rx_record(Function::Mag, work.key, src) {
                return Ok((record, Direction::MagDownlink));
            }
        }
        Err(DropReason::UnknownKey)
    }
}

/// Decrements the TTL / hop limit of the IP header at the Ethernet header's end and, if given, sets its ECN field.
/// The caller checked the TTL is above 1.
#[inline(always)]
pub(super) fn forward_one_hop(data: &mut [u8], family: IpFamily, new_ecn: Option<u8>) -> Result<(), DropReason> {
    match family {
        IpFamily::V4 => {
            let header = array_at_mut(data, ethernet::HEADER_LEN).ok_or(DropReason::InnerMalformed)?;
            ipv4::decrement_ttl(header);
            if let Some(value) = new_ecn {
                ipv4::set_ecn(header, value);
            }
        }
        IpFamily::V6 => {
            let header = array_at_mut(data, ethernet::HEADER_LEN).ok_or(DropReason::InnerMalformed)?;
            ipv6::decrement_hop_limit(header);
            if let Some(value) = new_ecn {
                ipv6::set_ecn(header, value);
            }
        }
    }
    Ok(())
}
