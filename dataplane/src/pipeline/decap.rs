//! GRE receive rules (RFC 2784 §2.3, RFC 2890, TS 29.275 §6) and decapsulation.

use super::{Action, Direction, Family, FastPath, Inner, Local};
use crate::binding::{Binding, BindingId};
use crate::counters::DropReason;
use crate::packet::PacketBuf;
use crate::wire::ethernet::MacAddr;
use crate::wire::gre::{self, GreError};
use crate::wire::ipv4::{self, Ipv4Packet};
use crate::wire::ipv6::{self, prefix64, Ipv6Packet};
use crate::wire::{array_at_mut, checksum, ecn, ethernet};

/// What planning learnt from the outer IP header of a GRE packet for us.
pub(super) struct GreOuter {
    /// Which of our address sets the outer destination is in.
    pub local: Local,
    /// Outer source, IPv4 mapped into IPv6: the LMAA of a MAG's downlink lookup.
    pub src: [u8; 16],
    pub ecn: u8,
    /// Frame offsets of the GRE header and of the end of the outer IP packet.
    pub gre_offset: usize,
    pub end: usize,
}

/// A decapsulation, fully decided.
pub(super) struct Plan {
    id: BindingId,
    direction: Direction,
    egress: usize,
    next_hop: MacAddr,
    /// Frame offset of the inner IP header.
    inner_offset: usize,
    inner: Inner,
    /// The inner ECN field to write, when CE has to be propagated.
    new_ecn: Option<u8>,
}

impl FastPath {
    /// Applies the receive rules in order — version, must-be-zero bits, length, key, protocol type, checksum — then
    /// finds the binding: by uplink key alone on an LMAA (TS 29.275 §6.3: the outer source is not checked), by
    /// (LMAA, downlink key) on a Proxy-CoA (§6.2: downlink keys are unique per LMAA only). An address that is
    /// both tries the LMA first.
    pub(super) fn plan_gre(&self, outer: &GreOuter, frame: &[u8]) -> Result<Action<'_>, DropReason> {
        let gre_packet = frame.get(outer.gre_offset..outer.end).ok_or(DropReason::GreMalformed)?;
        let header = gre::parse(gre_packet).map_err(|e| match e {
            GreError::Truncated => DropReason::GreMalformed,
            GreError::Version => DropReason::GreVersion,
            GreError::ReservedBits => DropReason::GreReservedBits,
        })?;
        let key = header.key.ok_or(DropReason::GreNoKey)?;
        let family = match header.protocol {
            ethernet::ETHERTYPE_IPV4 => Family::Ipv4,
            ethernet::ETHERTYPE_IPV6 => Family::Ipv6,
            _ => return Err(DropReason::GreProtocol),
        };
        // RFC 2784 §2.5: the checksum covers the GRE header and the payload.
        if header.checksum_present && !checksum::verifies(gre_packet) {
            return Err(DropReason::GreChecksum);
        }

        let table = self.tables.table();
        let lma = if outer.local.lmaa { table.lma_by_uplink_key(key) } else { None };
        let (id, binding, direction) = match lma {
            Some((id, binding)) => (id, binding, Direction::LmaUplink),
            None if outer.local.proxy_coa => match table.mag_by_downlink_key(outer.src, key) {
                Some((id, binding)) => (id, binding, Direction::MagDownlink),
                None => return Err(DropReason::UnknownKey),
            },
            None => return Err(DropReason::UnknownKey),
        };

        let payload = gre_packet.get(header.header_len..).unwrap_or_default();
        let (inner, source_owned) = read_inner(family, payload, binding)?;
        if direction == Direction::LmaUplink && self.inner_source_check && !source_owned {
            return Err(DropReason::InnerSourceMismatch);
        }
        // LMA uplink goes to the SGi router; MAG downlink to the UE itself.
        let (egress, binding_mac) = match direction {
            Direction::LmaUplink => (self.egress.sgi, None),
            _ => (self.egress.access, binding.next_hop.access),
        };
        let egress = egress.ok_or(DropReason::NoEgressPort)?;
        if inner.ttl <= 1 {
            return Err(DropReason::TtlExpired);
        }
        if inner.len > usize::from(self.port(egress)?.mtu) {
            return Err(DropReason::OverMtu);
        }
        let next_hop = self.next_hop(binding_mac, egress, inner.family)?;
        let new_ecn = ecn::on_decapsulation(outer.ecn, inner.ecn);
        Ok(Action::Decapsulate(Plan {
            id,
            direction,
            egress,
            next_hop,
            inner_offset: outer.gre_offset + header.header_len,
            inner,
            new_ecn: (new_ecn != inner.ecn).then_some(new_ecn),
        }))
    }

    /// Strips everything in front of the inner packet and the padding behind it, writes a fresh Ethernet header
    /// in the last 14 bytes of what was stripped, and forwards the inner packet one hop (TTL / hop limit).
    pub(super) fn decapsulate<P: PacketBuf>(&self, plan: &Plan, packet: &mut P) -> Result<super::Verdict, DropReason> {
        let port = self.port(plan.egress)?;
        let inner_end = plan.inner_offset + plan.inner.len;
        let padding = packet.data().len().saturating_sub(inner_end);
        let strip = plan.inner_offset.saturating_sub(ethernet::HEADER_LEN);
        if !packet.trim(padding) || !packet.adj(strip) {
            return Err(DropReason::InnerMalformed);
        }
        let data = packet.data_mut();
        let header = array_at_mut(data, 0).ok_or(DropReason::InnerMalformed)?;
        ethernet::write_header(header, plan.next_hop, port.mac, plan.inner.family.ethertype());
        forward_one_hop(data, plan.inner.family, plan.new_ecn)?;
        self.counters.path.decapsulated.add(1);
        self.count_binding(plan.id, plan.direction, plan.inner.len);
        Ok(super::Verdict::Forward(plan.egress))
    }
}

/// Parses the packet inside the tunnel as the GRE protocol type says and tells whether its source belongs to the
/// binding (the UE's IPv4 address, or inside its /64).
fn read_inner(family: Family, payload: &[u8], binding: &Binding) -> Result<(Inner, bool), DropReason> {
    match family {
        Family::Ipv4 => {
            let ip = Ipv4Packet::parse(payload).map_err(|_| DropReason::InnerMalformed)?;
            if !ip.header_checksum_ok() {
                return Err(DropReason::InnerMalformed);
            }
            let inner = Inner { family, len: ip.total_len(), ttl: ip.ttl(), ecn: ip.ecn() };
            Ok((inner, binding.owns_ipv4(ip.src())))
        }
        Family::Ipv6 => {
            let ip = Ipv6Packet::parse(payload).map_err(|_| DropReason::InnerMalformed)?;
            let inner = Inner { family, len: ip.total_len(), ttl: ip.hop_limit(), ecn: ip.ecn() };
            Ok((inner, binding.owns_prefix64(prefix64(&ip.src_octets()))))
        }
    }
}

/// Decrements the TTL / hop limit of the IP header at the Ethernet header's end and, if given, sets its ECN field.
/// The caller checked the TTL is above 1.
pub(super) fn forward_one_hop(data: &mut [u8], family: Family, new_ecn: Option<u8>) -> Result<(), DropReason> {
    match family {
        Family::Ipv4 => {
            let header = array_at_mut(data, ethernet::HEADER_LEN).ok_or(DropReason::InnerMalformed)?;
            ipv4::decrement_ttl(header);
            if let Some(value) = new_ecn {
                ipv4::set_ecn(header, value);
            }
        }
        Family::Ipv6 => {
            let header = array_at_mut(data, ethernet::HEADER_LEN).ok_or(DropReason::InnerMalformed)?;
            ipv6::decrement_hop_limit(header);
            if let Some(value) = new_ecn {
                ipv6::set_ecn(header, value);
            }
        }
    }
    Ok(())
}
