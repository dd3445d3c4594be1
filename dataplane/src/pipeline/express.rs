//! The express lane: a packet of the kinds nearly all traffic is, from its first byte to its rewritten frame in
//! one straight function, for a table that fits in the cache (the one-pass mode).
//!
//! The stages hand each packet from classification to action through a [`super::ingress::Pending`], decide in
//! general terms (any roles, any lookup order, every refusal) and re-derive on the way what the first look
//! already knew. The lane instead knows, per burst, which one kind of lookup the rx port makes and where its
//! packets go, reads the headers once into a fixed-size array (one bounds check), and checks the binding, TTL,
//! MTU, headroom and next hop before it writes a byte. When anything is not the ordinary case — another shape, a
//! packet for the gateway, a failed check, a binding not at its direct position — it returns `None` with the
//! packet untouched and the stages decide, refusals and their counters included. So the lane never decides
//! anything the stages would decide otherwise; a test holds the two to the same frames and counters.

use super::decap::{forward_one_hop, LMA_UE};
use super::ingress::is_link_scope;
use super::shape::{be16, be32, be64, GRE_KEYED_IPV4, GRE_KEYED_IPV6};
use super::{BurstContext, Direction, FastPath, IpFamily, Local, Next, Tally};
use crate::binding::Function;
use crate::packet::{PacketBuf, RxChecksum};
use crate::tables::{flag, TEMPLATE_LEN_V4, TEMPLATE_LEN_V6};
use crate::wire::checksum::verifies_20;
use crate::wire::ethernet::{ETHERTYPE_IPV4, ETHERTYPE_IPV6, HEADER_LEN as ETH};
use crate::wire::gre::KEYED_HEADER_LEN as GRE_LEN;
use crate::wire::ipv4::{MIN_HEADER_LEN as IPV4_LEN, PROTOCOL_GRE};
use crate::wire::ipv6::{traffic_class, HEADER_LEN as IPV6_LEN, NEXT_HEADER_GRE};
use crate::wire::{array_at, array_at_mut, ecn};

impl FastPath {
    /// One packet through the lane: plain IP encapsulated, or keyed GRE for one of our tunnel addresses
    /// decapsulated; `None`: untouched, for the stages.
    #[inline(always)]
    pub(super) fn express<P: PacketBuf>(
        &self,
        context: &BurstContext,
        packet: &mut P,
        tally: &mut Tally,
    ) -> Option<Next> {
        let frame = packet.data();
        let h = array_at::<{ ETH + IPV4_LEN }>(frame, 0)?;
        match be16(h, 12) {
            ETHERTYPE_IPV4 if h[ETH] == 0x45 => {
                let total = usize::from(be16(h, ETH + 2));
                if total < IPV4_LEN || ETH + total > frame.len() {
                    return None;
                }
                let checksum_ok = match packet.rx_ipv4_checksum() {
                    RxChecksum::Good => true,
                    RxChecksum::Bad => false,
                    RxChecksum::Unknown => array_at::<IPV4_LEN>(h, ETH).is_some_and(verifies_20),
                };
                let dst = be32(h, ETH + 16);
                let local = self.local.ipv4(dst);
                if !checksum_ok {
                    return None;
                }
                if !local.any() {
                    if !context.plain_lane {
                        return None;
                    }
                    let ue = context.plain.ue_ipv4(h);
                    let inner = Inner { family: IpFamily::V4, len: total, ttl: h[ETH + 8], tos: h[ETH + 1] };
                    return self.express_encapsulate(context, inner, u64::from(ue), packet, tally);
                }
                let fragment = be16(h, ETH + 6) & 0x3fff != 0;
                if h[ETH + 9] != PROTOCOL_GRE || !local.tunnel() || !context.roles.core || fragment {
                    return None;
                }
                let outer = Outer { local, ecn: h[ETH + 1] & 0x03, src: (ETH + 12, 4), gre_at: ETH + IPV4_LEN };
                self.express_decapsulate(context, outer, ETH + total, packet, tally)
            }
            ETHERTYPE_IPV6 if h[ETH] >> 4 == 6 => {
                let h = array_at::<{ ETH + IPV6_LEN }>(frame, 0)?;
                let total = IPV6_LEN + usize::from(be16(h, ETH + 4));
                let dst = array_at::<16>(h, ETH + 24)?;
                if ETH + total > frame.len() {
                    return None;
                }
                let local = self.local.ipv6(dst);
                let class = traffic_class(array_at::<2>(h, ETH)?);
                if !local.any() && !is_link_scope(dst) {
                    if !context.plain_lane {
                        return None;
                    }
                    let ue = context.plain.ue_ipv6(h);
                    let inner = Inner { family: IpFamily::V6, len: total, ttl: h[ETH + 7], tos: class };
                    return self.express_encapsulate(context, inner, ue, packet, tally);
                }
                if h[ETH + 6] != NEXT_HEADER_GRE || !local.tunnel() || !context.roles.core {
                    return None;
                }
                let outer = Outer { local, ecn: class & 0x03, src: (ETH + 8, 16), gre_at: ETH + IPV6_LEN };
                self.express_decapsulate(context, outer, ETH + total, packet, tally)
            }
            _ => None,
        }
    }

    /// A plain packet from a UE or the PDN whose binding sits at its direct position: encapsulated towards the
    /// binding's peer (what [`FastPath::encapsulate`] does, for the ordinary case only).
    #[inline(always)]
    fn express_encapsulate<P: PacketBuf>(
        &self,
        context: &BurstContext,
        inner: Inner,
        ue: u64,
        packet: &mut P,
        tally: &mut Tally,
    ) -> Option<Next> {
        let ipv6 = inner.family == IpFamily::V6;
        let record = self.tables.direct_record(ipv6, ue)?;
        let plain = &context.plain;
        if !record.serves_as(plain.flags[usize::from(ipv6)], ipv6, ue) {
            return None;
        }
        let flags = record.flags();
        let out = context.core.as_ref()?;
        let (template_len, outer_family) = if flags & flag::OUTER_IPV6 != 0 {
            (TEMPLATE_LEN_V6, IpFamily::V6)
        } else {
            (TEMPLATE_LEN_V4, IpFamily::V4)
        };
        let overhead = template_len - ETH;
        if flags & flag::TX == 0 || inner.ttl <= 1 || overhead + inner.len > out.mtu || packet.headroom() < overhead {
            return None;
        }
        let core_mac = if flags & flag::CORE_MAC_FROM_PORT != 0 { Some(out.header(outer_family)?) } else { None };

        // Every check has passed: from here on the packet is rewritten, and nothing below fails (the frame holds
        // `ETH + inner.len` bytes, at least a whole inner header; the headroom was checked).
        if !packet.keep(0, ETH + inner.len) {
            return None;
        }
        packet.prepend(overhead)?;
        let frame = packet.data_mut();
        // The old Ethernet header sits right behind the new outer headers, the inner packet behind it.
        forward_one_hop(frame.get_mut(overhead..)?, inner.family, None).ok()?;
        let outer_tos = (inner.tos & out.dscp_mask) | ecn::on_encapsulation(inner.tos);
        record.write_outer(flags, frame, core_mac, inner.family.ethertype(), inner.len, outer_tos)?;
        if flags & flag::CHECKSUM_OFFLOAD != 0 {
            packet.request_tx_ipv4_checksum(ETH as u8, IPV4_LEN as u8);
        }
        tally.encapsulated += 1;
        record.count(plain.direction.way(), 1, inner.len as u64);
        Some(Next::forward(out.port))
    }

    /// Keyed GRE (only the K bit, version 0) for one of our tunnel addresses, around an inner packet without
    /// options, whose key finds its binding at home: decapsulated (what [`FastPath::decapsulate`] does, for the
    /// ordinary case only). `end`: where the outer packet ends.
    #[inline(always)]
    fn express_decapsulate<P: PacketBuf>(
        &self,
        context: &BurstContext,
        outer: Outer,
        end: usize,
        packet: &mut P,
        tally: &mut Tally,
    ) -> Option<Next> {
        let frame = packet.data();
        let gre = array_at::<GRE_LEN>(frame, outer.gre_at)?;
        let inner_at = outer.gre_at + GRE_LEN;
        let room = end.saturating_sub(inner_at);
        let (inner, ue) = match be32(gre, 0) {
            GRE_KEYED_IPV4 => {
                let ip = array_at::<IPV4_LEN>(frame, inner_at)?;
                let len = usize::from(be16(ip, 2));
                if ip[0] != 0x45 || len < IPV4_LEN || len > room || !verifies_20(ip) {
                    return None;
                }
                (Inner { family: IpFamily::V4, len, ttl: ip[8], tos: ip[1] }, u64::from(be32(ip, 12)))
            }
            GRE_KEYED_IPV6 => {
                let ip = array_at::<IPV6_LEN>(frame, inner_at)?;
                let len = IPV6_LEN + usize::from(be16(ip, 4));
                if ip[0] >> 4 != 6 || len > room {
                    return None;
                }
                let class = traffic_class(array_at::<2>(ip, 0)?);
                (Inner { family: IpFamily::V6, len, ttl: ip[7], tos: class }, be64(ip, 8))
            }
            _ => return None,
        };
        let key = be32(gre, 4);
        let ipv6 = inner.family == IpFamily::V6;
        // The key's home slot only (a displaced key is the stages' case); the LMA first on an address that is
        // both (as `FastPath::tunnel_binding`).
        let record = self.tables.record(self.tables.home(key))?;
        let lma = outer.local.lmaa() && record.receives(Function::Lma, key, &[]);
        let (direction, out, binding_mac) = match lma {
            true => {
                if self.inner_source_check && !record.serves_as(LMA_UE[usize::from(ipv6)], ipv6, ue) {
                    return None;
                }
                (Direction::LmaUplink, context.sgi.as_ref()?, None)
            }
            // On an address that is both, an LMA key away from its home slot would come first: the stages' case.
            false if outer.local.lmaa() && self.tables.has_displaced_keys() => return None,
            false if outer.local.proxy_coa() => {
                let (at, len) = outer.src;
                if !record.receives(Function::Mag, key, frame.get(at..at + usize::from(len))?) {
                    return None;
                }
                (Direction::MagDownlink, context.access.as_ref()?, record.access_mac())
            }
            false => return None,
        };
        if inner.ttl <= 1 || inner.len > out.mtu || !out.reaches(inner.family, binding_mac) {
            return None;
        }
        let new_ecn = ecn::on_decapsulation(outer.ecn, inner.tos)?;

        // Every check has passed: from here on the packet is rewritten.
        if !packet.keep(inner_at - ETH, ETH + inner.len) {
            return None;
        }
        let data = packet.data_mut();
        out.write_header(inner.family, binding_mac, array_at_mut(data, 0)?);
        forward_one_hop(data, inner.family, (new_ecn != inner.tos & 0x03).then_some(new_ecn)).ok()?;
        tally.decapsulated += 1;
        record.count(direction.way(), 1, inner.len as u64);
        Some(Next::forward(out.port))
    }
}

/// What the lane read of the packet inside (or going inside) the tunnel.
#[derive(Clone, Copy)]
struct Inner {
    family: IpFamily,
    /// Total length of the IP packet (bytes beyond are link padding).
    len: usize,
    ttl: u8,
    /// TOS / traffic class (DSCP and ECN).
    tos: u8,
}

/// What the lane read of a GRE packet's outer header.
#[derive(Clone, Copy)]
struct Outer {
    local: Local,
    ecn: u8,
    /// Frame offset and length of the outer source address.
    src: (usize, u8),
    gre_at: usize,
}

/// How many packets apart the prefetching lane's steps run: a record's load starts this many packets before the
/// lane reads it, a plain packet's direct position twice as many.
const AHEAD: usize = 8;

/// What stage 1 of the prefetching lane found a packet to need: the direct position of a plain packet's UE, the
/// family in the top bit, whose slot stage 2 reads; or nothing ([`Hint::NONE`]). One `u32`: positions are below
/// the table's slot count, at most 2^24 (`gateway.table_capacity`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Hint(u32);

impl Hint {
    const NONE: Hint = Hint(u32::MAX);
    const IPV6: u32 = 1 << 31;

    #[inline(always)]
    fn position(ipv6: bool, position: u32) -> Hint {
        debug_assert!(position < Hint::IPV6, "positions are below the slot count");
        Hint(position | if ipv6 { Hint::IPV6 } else { 0 })
    }
}

impl FastPath {
    /// The lane for a table beyond the cache, as a software pipeline over the burst: 1. a look at fixed offsets
    /// starts loading a packet's binding (a GRE key's home slot, a plain packet's direct position), 2. `AHEAD`
    /// packets later the slot at that position is read and its record's load started, 3. another `AHEAD` packets
    /// later the packet goes through the lane (the rest through all three stages). Loads are started a fixed
    /// distance ahead of their use rather than a whole burst's worth at once, which is more than a core keeps in
    /// flight: with all of them started first, the record's first read still took 50–70 % of the worker's samples
    /// at 100k bindings (bench/README.md). Stage 1 only guesses (it decides nothing): a wrong guess costs a load,
    /// never an answer.
    #[inline(always)]
    pub(super) fn prefetching_lane<P: PacketBuf>(
        &self,
        context: &BurstContext,
        packets: &mut [P],
        nexts: &mut [Next],
        tally: &mut Tally,
    ) {
        let mut hints = [Hint::NONE; crate::dpdk::MAX_BURST];
        let count = packets.len().min(nexts.len()).min(hints.len());
        for at in 0..count + 2 * AHEAD {
            if let (Some(hint), Some(packet)) = (hints.get_mut(at), packets.get(at).filter(|_| at < count)) {
                *hint = self.peek(context, packet.data());
            }
            if let Some(hint) = at.checked_sub(AHEAD).filter(|&r| r < count).and_then(|r| hints.get(r)) {
                self.resolve_hint(*hint);
            }
            let now = at.wrapping_sub(2 * AHEAD);
            if let (Some(packet), Some(next)) = (packets.get_mut(now), nexts.get_mut(now).filter(|_| now < count)) {
                tally.rx_bytes += packet.data().len() as u64;
                *next = match self.express(context, packet, tally) {
                    Some(next) => next,
                    None => self.one_packet(context, packet, tally),
                };
            }
        }
    }

    /// Stage 1 of the prefetching lane: where the packet's binding would be if it is the ordinary case, its load
    /// started. Reads no further than the headers it needs (a minimum-size frame, a TCP acknowledgement say, is
    /// looked at too).
    #[inline(always)]
    fn peek(&self, context: &BurstContext, frame: &[u8]) -> Hint {
        let Some(h) = array_at::<{ ETH + IPV4_LEN }>(frame, 0) else { return Hint::NONE };
        match be16(h, 12) {
            ETHERTYPE_IPV4 => {
                if context.roles.core && h[ETH + 9] == PROTOCOL_GRE {
                    // The record's line 0 holds all the check reads, a MAG's check of an IPv4 LMAA included.
                    self.prefetch_key_home(frame, ETH + IPV4_LEN + 4, false);
                    return Hint::NONE;
                }
                let ue = context.plain.ue_ipv4(h);
                self.position_hint(context, false, u64::from(ue))
            }
            ETHERTYPE_IPV6 => {
                let Some(h) = array_at::<{ ETH + IPV6_LEN }>(frame, 0) else { return Hint::NONE };
                if context.roles.core && h[ETH + 6] == NEXT_HEADER_GRE {
                    // A MAG's check of an IPv6 LMAA reads line 1; an LMA's decapsulation reads line 0 alone.
                    self.prefetch_key_home(frame, ETH + IPV6_LEN + 4, self.local.has_proxy_coa());
                    return Hint::NONE;
                }
                let ue = context.plain.ue_ipv6(h);
                self.position_hint(context, true, ue)
            }
            _ => Hint::NONE,
        }
    }

    /// Stage 2 of the prefetching lane: the slot at a plain packet's direct position, its record's load started.
    #[inline(always)]
    fn resolve_hint(&self, hint: Hint) {
        if hint != Hint::NONE {
            self.tables.ue_candidate(hint.0 & Hint::IPV6 != 0, hint.0 & !Hint::IPV6);
        }
    }

    /// Starts loading the home slot of the GRE key at `key_at` (a keyed header without checksum): its line 0,
    /// and line 1 too `with_line1`.
    #[inline(always)]
    fn prefetch_key_home(&self, frame: &[u8], key_at: usize, with_line1: bool) {
        if let Some(key) = array_at::<4>(frame, key_at) {
            self.tables.prefetch_home(be32(key, 0), with_line1);
        }
    }

    #[inline(always)]
    fn position_hint(&self, context: &BurstContext, ipv6: bool, ue: u64) -> Hint {
        if !context.plain_lane {
            return Hint::NONE;
        }
        Hint::position(ipv6, self.tables.ue_position(ipv6, ue))
    }
}
