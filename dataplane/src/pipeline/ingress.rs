//! Stages 1 and 2: what arrived, whether it is for us, for the control thread or for a UE, and where its binding
//! is — prefetched for stage 3.

use super::{BurstContext, FastPath, IpFamily, Local, Next, Roles};
use crate::counters::DropReason;
use crate::packet::{PacketBuf, RxChecksum};

use crate::wire::ethernet::{self, EthernetHeader};
use crate::wire::gre::{self, GreError};
use crate::wire::icmp::*;
use crate::wire::ipv4::{self, Ipv4Packet};
use crate::wire::ipv6::{self, prefix64, ExtensionHeaderError, Ipv6Packet};
use crate::wire::{array_at, checksum};

/// PMIPv6 signalling over IPv4-UDP (RFC 5844 §4; the 3GPP IPv4-UDP form too, TS 29.275 §6.1).
const PMIP6_CONTROL_PORT: u16 = 5436;

/// What stage 3 does with a packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Op {
    /// Decided in stage 1 (punt or drop).
    Done(Next),
    /// GRE for one of our tunnel addresses: look up by key, decapsulate.
    #[default]
    Gre,
    /// Plain IP from a UE or the PDN: look up by UE address, encapsulate.
    Plain,
}

/// One packet between the stages: what stage 1 read, and where the binding should be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Pending {
    pub op: Op,
    /// The family of the packet inside (or going inside) the tunnel.
    pub family: IpFamily,
    pub ttl: u8,
    /// The inner packet's TOS / traffic class byte (DSCP and ECN).
    pub inner_tos: u8,
    /// GRE: the outer header's ECN field.
    pub outer_ecn: u8,
    /// GRE: the outer destination is an LMAA / a Proxy-CoA.
    pub lmaa: bool,
    pub proxy_coa: bool,
    /// GRE: the inner packet failed its checks (reported after the lookup, as the receive rules order it).
    pub inner_malformed: bool,
    /// GRE: frame offset and length (4 or 16) of the outer source address.
    pub src_at: u16,
    pub src_len: u8,
    /// Frame offset of the inner IP header and its total length (bytes beyond are padding).
    pub inner_at: u16,
    pub inner_len: u16,
    pub key: u32,
    /// GRE: the inner source as the binding holds it (IPv4 address, or /64 upper bits). Plain: the UE address
    /// looked up on `sgi` (destination) ...
    pub ue_dst: u64,
    /// ... and on `access` (source).
    pub ue_src: u64,
    /// Plain: the first lookup's direct position, and the candidate slot stage 2 found there (`NO_SLOT`: none).
    pub position: u32,
    pub slot: u32,
}

impl Default for Pending {
    fn default() -> Self {
        Pending {
            op: Op::Gre,
            family: IpFamily::V4,
            ttl: 0,
            inner_tos: 0,
            outer_ecn: 0,
            lmaa: false,
            proxy_coa: false,
            inner_malformed: false,
            src_at: 0,
            src_len: 0,
            inner_at: ethernet::HEADER_LEN as u16,
            inner_len: 0,
            key: 0,
            ue_dst: 0,
            ue_src: 0,
            position: 0,
            slot: NO_SLOT,
        }
    }
}

pub(super) const NO_SLOT: u32 = u32::MAX;

impl Pending {
    /// Decided in stage 1: dropped for `reason`.
    #[inline(always)]
    fn refuse(&mut self, reason: DropReason) {
        self.op = Op::Done(Next::drop(reason));
    }
    /// Decided in stage 1: for the control thread.
    #[inline(always)]
    fn punt(&mut self) {
        self.op = Op::Done(Next::PUNT);
    }
    /// Decided in stage 1: signalling for the control thread, admitted per peer (`admission.rs`).
    #[inline(always)]
    fn signalling(&mut self) {
        self.op = Op::Done(Next::SIGNALLING);
    }
}

impl FastPath {
    /// Stage 1: reads the packet; decides punts and header-level drops; starts loading the binding.
    #[inline(always)]
    pub(super) fn classify<P: PacketBuf>(&self, context: &BurstContext, packet: &P, work: &mut Pending) {
        let (frame, nic_checksum) = (packet.data(), packet.rx_ipv4_checksum());
        if self.classify_common(context.roles, frame, nic_checksum, work) {
            return;
        }
        self.classify_any(context.roles, frame, nic_checksum, work);
    }

    /// The full parser: every frame the fast lane (`shape.rs`) leaves, and every decision.
    #[inline(never)]
    pub(super) fn classify_any(&self, roles: Roles, frame: &[u8], nic_checksum: RxChecksum, work: &mut Pending) {
        let Some(header) = EthernetHeader::parse(frame) else { return work.refuse(DropReason::EthernetTruncated) };
        match header.ethertype() {
            ethernet::ETHERTYPE_IPV4 => self.classify_ipv4(roles, frame, nic_checksum, work),
            ethernet::ETHERTYPE_IPV6 => self.classify_ipv6(roles, frame, work),
            // Address resolution for our addresses is the control thread's job.
            ethernet::ETHERTYPE_ARP => work.punt(),
            _ => work.refuse(DropReason::UnsupportedEthertype),
        }
    }

    /// An outer fragment of GRE for one of our tunnel addresses: for the worker's reassembly table.
    fn to_reassembly(&self, work: &mut Pending) {
        self.counters.path.reassembly_fragments.add(1);
        work.op = Op::Done(Next::REASSEMBLE);
    }

    /// Stage 2: reads the candidate slot of a UE-address lookup at its (prefetched) direct position and
    /// prefetches its record.
    #[inline(always)]
    pub(super) fn resolve(&self, work: &mut Pending) {
        work.slot = self.tables.ue_candidate(work.family == IpFamily::V6, work.position);
    }

    #[inline(always)]
    fn classify_ipv4(&self, roles: Roles, frame: &[u8], nic_checksum: RxChecksum, work: &mut Pending) {
        let l3 = frame.get(ethernet::HEADER_LEN..).unwrap_or_default();
        let Ok(ip) = Ipv4Packet::parse(l3) else { return work.refuse(DropReason::Ipv4Malformed) };
        let checksum_ok = match nic_checksum {
            RxChecksum::Good => true,
            RxChecksum::Bad => false,
            RxChecksum::Unknown => ip.header_checksum_ok(),
        };
        if !checksum_ok {
            return work.refuse(DropReason::Ipv4Checksum);
        }
        let dst = u32::from(ip.dst());
        let local = self.local.ipv4(dst);
        if local.any() {
            if ip.is_fragment() {
                // A piece of a tunnelled packet: reassembled first (`reassembly.rs`), then decapsulated.
                if ip.protocol() == ipv4::PROTOCOL_GRE && roles.core && local.tunnel() {
                    return self.to_reassembly(work);
                }
                return work.refuse(DropReason::Fragment);
            }
            let l4 = ip.payload();
            return match ip.protocol() {
                ipv4::PROTOCOL_GRE if roles.core && local.tunnel() => self.classify_gre(
                    frame,
                    local,
                    ip.ecn(),
                    ethernet::HEADER_LEN + 12,
                    4,
                    ethernet::HEADER_LEN + ip.header_len(),
                    ethernet::HEADER_LEN + ip.total_len(),
                    work,
                ),
                ipv4::PROTOCOL_UDP if local.tunnel() && udp_destination_port(l4) == Some(PMIP6_CONTROL_PORT) => {
                    work.signalling()
                }
                ipv4::PROTOCOL_ICMP if matches!(l4.first(), Some(&(ICMP_ECHO_REQUEST | ICMP_ECHO_REPLY))) => {
                    work.punt()
                }
                // The 3GPP IPv4 form of signalling: IPv6 with a Mobility Header inside IPv4 (TS 29.275 §6.1).
                ipv4::PROTOCOL_IPV6 if local.tunnel() && carries_mobility_header(l4) => work.signalling(),
                _ => work.refuse(DropReason::LocalUnsupported),
            };
        }
        self.classify_plain(
            roles,
            IpFamily::V4,
            ip.total_len(),
            ip.ttl(),
            ip.tos(),
            u64::from(dst),
            u64::from(u32::from(ip.src())),
            work,
        )
    }

    #[inline(always)]
    fn classify_ipv6(&self, roles: Roles, frame: &[u8], work: &mut Pending) {
        let l3 = frame.get(ethernet::HEADER_LEN..).unwrap_or_default();
        let Ok(ip) = Ipv6Packet::parse(l3) else { return work.refuse(DropReason::Ipv6Malformed) };
        let dst = ip.dst_octets();
        let local = self.local.ipv6(&dst);
        if local.any() || is_link_scope(&dst) {
            let (protocol, offset) = match ipv6::upper_layer(ip.next_header(), ip.payload()) {
                Ok(found) => found,
                // A piece of a tunnelled packet, its Fragment header first (RFC 8200 §4.5): reassembled, then
                // decapsulated. A fragment behind other extension headers is not taken.
                Err(ExtensionHeaderError::Fragment)
                    if ip.next_header() == ipv6::NEXT_HEADER_FRAGMENT
                        && ip.payload().first() == Some(&ipv6::NEXT_HEADER_GRE)
                        && local.tunnel()
                        && roles.core =>
                {
                    return self.to_reassembly(work)
                }
                Err(ExtensionHeaderError::Fragment) => return work.refuse(DropReason::Fragment),
                Err(ExtensionHeaderError::Unsupported) => return work.refuse(DropReason::Ipv6ExtensionHeader),
            };
            let l4 = ip.payload().get(offset..).unwrap_or_default();
            let unhandled = if local.any() { DropReason::LocalUnsupported } else { DropReason::LinkScope };
            return match protocol {
                ipv6::NEXT_HEADER_GRE if local.tunnel() && roles.core => self.classify_gre(
                    frame,
                    local,
                    ip.ecn(),
                    ethernet::HEADER_LEN + 8,
                    16,
                    ethernet::HEADER_LEN + ipv6::HEADER_LEN + offset,
                    ethernet::HEADER_LEN + ip.total_len(),
                    work,
                ),
                ipv6::NEXT_HEADER_MOBILITY if local.tunnel() => work.signalling(),
                ipv6::NEXT_HEADER_UDP if local.tunnel() && udp_destination_port(l4) == Some(PMIP6_CONTROL_PORT) => {
                    work.signalling()
                }
                ipv6::NEXT_HEADER_ICMPV6 => match l4.first() {
                    // Neighbour discovery is link-local by nature (hop limit 255): whatever its destination.
                    Some(
                        &(ICMPV6_ROUTER_SOLICITATION | ICMPV6_NEIGHBOR_SOLICITATION | ICMPV6_NEIGHBOR_ADVERTISEMENT),
                    ) => work.punt(),
                    Some(&(ICMPV6_ECHO_REQUEST | ICMPV6_ECHO_REPLY)) if local.any() => work.punt(),
                    _ => work.refuse(unhandled),
                },
                _ => work.refuse(unhandled),
            };
        }
        self.classify_plain(
            roles,
            IpFamily::V6,
            ip.total_len(),
            ip.hop_limit(),
            ip.traffic_class(),
            prefix64(&dst),
            prefix64(&ip.src_octets()),
            work,
        )
    }

    /// Plain IP: LMA downlink by destination on `sgi`, MAG uplink by source on `access`. Prefetches the direct
    /// position of the first lookup that applies.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(super) fn classify_plain(
        &self,
        roles: Roles,
        family: IpFamily,
        len: usize,
        ttl: u8,
        tos: u8,
        ue_dst: u64,
        ue_src: u64,
        work: &mut Pending,
    ) {
        if !roles.sgi && !roles.access {
            return work.refuse(unrouted(roles));
        }
        let position = self.tables.ue_position(family == IpFamily::V6, if roles.sgi { ue_dst } else { ue_src });
        work.op = Op::Plain;
        work.family = family;
        work.ttl = ttl;
        work.inner_tos = tos;
        work.inner_len = len as u16;
        work.ue_dst = ue_dst;
        work.ue_src = ue_src;
        work.position = position;
    }

    /// GRE for one of our tunnel addresses: the receive rules in order — version, must-be-zero bits, length, key,
    /// protocol type, checksum (RFC 2784 §2.3, RFC 2890, TS 29.275 §6) — then the inner header, whose errors are
    /// reported after the lookup. Prefetches the key's home slot.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn classify_gre(
        &self,
        frame: &[u8],
        local: Local,
        outer_ecn: u8,
        src_at: usize,
        src_len: u8,
        gre_offset: usize,
        end: usize,
        work: &mut Pending,
    ) {
        let Some(gre_packet) = frame.get(gre_offset..end) else { return work.refuse(DropReason::GreMalformed) };
        let header = match gre::parse(gre_packet) {
            Ok(header) => header,
            Err(GreError::Truncated) => return work.refuse(DropReason::GreMalformed),
            Err(GreError::Version) => return work.refuse(DropReason::GreVersion),
            Err(GreError::ReservedBits) => return work.refuse(DropReason::GreReservedBits),
        };
        let Some(key) = header.key else { return work.refuse(DropReason::GreNoKey) };
        let family = match header.protocol {
            ethernet::ETHERTYPE_IPV4 => IpFamily::V4,
            ethernet::ETHERTYPE_IPV6 => IpFamily::V6,
            _ => return work.refuse(DropReason::GreProtocol),
        };
        // RFC 2784 §2.5: the checksum covers the GRE header and the payload.
        if header.checksum_present && !checksum::verifies(gre_packet) {
            return work.refuse(DropReason::GreChecksum);
        }
        let inner_at = gre_offset + header.header_len;
        let payload = gre_packet.get(header.header_len..).unwrap_or_default();
        let inner = read_inner(family, payload);
        self.tunnelled(local, outer_ecn, (src_at, src_len), inner_at, key, family, inner, work);
    }

    /// A GRE packet for one of our tunnel addresses, parsed: prefetches the key's home slot and hands stage 3
    /// what it needs. `inner` is (total length, TTL, ECN, source as a binding holds it), `None` when the inner
    /// packet is malformed.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(super) fn tunnelled(
        &self,
        local: Local,
        outer_ecn: u8,
        (src_at, src_len): (usize, u8),
        inner_at: usize,
        key: u32,
        family: IpFamily,
        inner: Option<(usize, u8, u8, u64)>,
        work: &mut Pending,
    ) {
        self.tables.prefetch_home(key, true);
        work.op = Op::Gre;
        work.family = family;
        work.outer_ecn = outer_ecn;
        work.lmaa = local.lmaa();
        work.proxy_coa = local.proxy_coa();
        work.src_at = src_at as u16;
        work.src_len = src_len;
        work.inner_at = inner_at as u16;
        work.key = key;
        match inner {
            Some((len, ttl, tos, source)) => {
                work.inner_malformed = false;
                work.inner_len = len as u16;
                work.ttl = ttl;
                work.inner_tos = tos;
                work.ue_src = source;
            }
            None => work.inner_malformed = true,
        }
    }
}

/// Parses the packet inside the tunnel as the GRE protocol type says: (total length, TTL, TOS, the source as a
/// binding holds it). `None` when truncated, invalid, or an IPv4 header with a wrong checksum.
fn read_inner(family: IpFamily, payload: &[u8]) -> Option<(usize, u8, u8, u64)> {
    match family {
        IpFamily::V4 => {
            let ip = Ipv4Packet::parse(payload).ok()?;
            ip.header_checksum_ok().then(|| (ip.total_len(), ip.ttl(), ip.tos(), u64::from(u32::from(ip.src()))))
        }
        IpFamily::V6 => {
            let ip = Ipv6Packet::parse(payload).ok()?;
            Some((ip.total_len(), ip.hop_limit(), ip.traffic_class(), prefix64(&ip.src_octets())))
        }
    }
}

/// Traffic for someone else that matched no binding: on a UE- or PDN-facing port it is a UE without a binding;
/// on a `core`-only port it should not have reached us at all.
pub(super) fn unrouted(roles: Roles) -> DropReason {
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
pub(super) fn is_link_scope(address: &[u8; 16]) -> bool {
    (address[0] == 0xfe && address[1] & 0xc0 == 0x80) || (address[0] == 0xff && address[1] & 0x0f == 0x02)
}
