//! ICMP errors instead of silent drops, for packets the gateway cannot forward: too big for where they go (ICMP
//! Fragmentation Needed, RFC 792 / RFC 1191; ICMPv6 Packet Too Big, RFC 4443 §3.2) or at the end of their TTL /
//! hop limit (Time Exceeded, RFC 792; RFC 4443 §3.3).
//!
//! The error is built in the packet's own buffer (the quoted packet stays where it is, the new headers go in
//! front of it) and heads back towards the packet's source: a plain packet's out of the port it came in on, to
//! the link-layer address it came from (that neighbour is the first hop of the way back); a tunnelled packet's
//! back into its tunnel, encapsulated with the binding's template like any packet for the peer. Everything here
//! is off the forwarding path: it runs only for a packet that would otherwise be dropped, and the packet is
//! still counted under its drop reason.

use super::ingress::{Op, Pending};
use super::{BurstContext, Direction, FastPath, IpFamily, Next};
use crate::counters::DropReason;
use crate::packet::PacketBuf;
use crate::tables::{flag, template_len, Record};
use crate::wire::icmp::{self, ErrorKind};
use crate::wire::{ethernet, ipv4, ipv6};
use crate::PortIndex;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::OnceLock;
use std::time::Instant;

/// Where the pipeline reads the time for its rate limit: nanoseconds since any fixed start.
#[derive(Clone, Copy, Debug)]
pub struct Clock(pub fn() -> u64);

impl Clock {
    /// The monotonic clock (a vDSO read, not a system call), read only on the error path.
    pub fn monotonic() -> Clock {
        fn now() -> u64 {
            static START: OnceLock<Instant> = OnceLock::new();
            START.get_or_init(Instant::now).elapsed().as_nanos() as u64
        }
        Clock(now)
    }
}

/// A worker's budget of ICMP errors (RFC 4443 §2.4(f), RFC 1812 §4.3.2.8): `rate` per second, in bursts of up
/// to a tenth of that. Kept as the time the next error would be due when sending at exactly `rate` (a token
/// bucket in one number); only the worker writes it.
#[derive(Debug)]
pub(super) struct ErrorBudget {
    clock: Clock,
    /// Nanoseconds between errors at the sustained rate; 0: no errors at all.
    interval: u64,
    /// How far ahead of the clock the due time may run: the burst.
    slack: u64,
    due: AtomicU64,
}

impl ErrorBudget {
    pub(super) fn new(per_second: u32, clock: Clock) -> Self {
        let interval = if per_second == 0 { 0 } else { 1_000_000_000 / u64::from(per_second) };
        let burst = u64::from(per_second / 10).max(1);
        ErrorBudget { clock, interval, slack: interval * (burst - 1), due: AtomicU64::new(0) }
    }

    /// The clock's reading now.
    pub(super) fn now(&self) -> u64 {
        (self.clock.0)()
    }

    /// Takes one error from the budget, if there is one left.
    fn take(&self) -> bool {
        if self.interval == 0 {
            return false;
        }
        let now = (self.clock.0)();
        let due = self.due.load(Relaxed).max(now);
        if due - now > self.slack {
            return false;
        }
        self.due.store(due + self.interval, Relaxed);
        true
    }
}

impl FastPath {
    /// The ICMP error for a packet refused for `reason` — its TTL ends here, or it is too big for where it goes —
    /// built in its buffer and headed back towards its source: out of the rx port for a plain packet, back into
    /// its tunnel for a decapsulated one. `None` leaves the packet as it came, to be dropped. (An IPv4 packet
    /// without DF that is too big is fragmented, never answered: it does not come here.)
    #[cold]
    #[inline(never)]
    pub(super) fn answer_with_error<P: PacketBuf>(
        &self,
        context: &BurstContext,
        work: &Pending,
        packet: &mut P,
        reason: DropReason,
    ) -> Option<Next> {
        let (way_back, source_port, mtu) = if work.op == Op::Gre {
            // Out of the tunnel towards `sgi` (LMA uplink) or `access` (MAG downlink): that port's MTU, and its
            // address as the error's source; the error goes back into the tunnel.
            let (record, direction) = self.tunnel_binding(work, packet.data()).ok()?;
            let out = if direction == Direction::LmaUplink { context.sgi.as_ref() } else { context.access.as_ref() }?;
            (WayBack::Tunnel(record), out.port, out.mtu)
        } else {
            // Into the tunnel: the core port's MTU less this binding's tunnel headers.
            let (record, _) = self.find_ue(context, work)?;
            let mtu = context.core.as_ref()?.mtu.saturating_sub(template_len(record.flags()) - ethernet::HEADER_LEN);
            (WayBack::Link, context.rx_port, mtu)
        };
        let kind = match reason {
            DropReason::OverMtu => ErrorKind::TooBig { mtu: u16::try_from(mtu).unwrap_or(u16::MAX) },
            _ => ErrorKind::TimeExceeded,
        };
        let next = self.answer(context, work, packet, kind, way_back, source_port)?;
        self.counters.count_drop(reason);
        self.counters.path.icmp_errors_sent.add(1);
        Some(next)
    }

    /// Rewrites `packet` into the ICMP error `kind` to its source, from `source_port`'s address; `None`, with the
    /// packet unchanged, when no error may be sent: the packet is itself an ICMP error, a non-first fragment, to
    /// or from an address that is not one host's, there is no source address of the family, or the budget is
    /// spent (RFC 1812 §4.3.2.7, RFC 4443 §2.4(e)).
    fn answer<P: PacketBuf>(
        &self,
        context: &BurstContext,
        work: &Pending,
        packet: &mut P,
        kind: ErrorKind,
        way_back: WayBack,
        source_port: PortIndex,
    ) -> Option<Next> {
        let port = self.port(source_port)?;
        let frame = packet.data();
        let at = usize::from(work.inner_at);
        let original = frame.get(at..at + usize::from(work.inner_len))?;
        let too_big = matches!(kind, ErrorKind::TooBig { .. });
        // A Packet Too Big may answer multicast (RFC 4443 §2.4(e.3)); nothing else may. A tunnelled packet came
        // to our own unicast address.
        let link_multicast = matches!(way_back, WayBack::Link) && frame.first().is_some_and(|byte| byte & 1 != 0);
        let (source, destination): (IpAddr, IpAddr) = match work.family {
            IpFamily::V4 => {
                let (source, destination) = ipv4_addresses(original)?;
                if link_multicast || !may_answer_ipv4(original, source, destination) {
                    return None;
                }
                (port.icmp_source_v4?.into(), source.into())
            }
            IpFamily::V6 => {
                let (source, destination) = ipv6_addresses(original)?;
                if (link_multicast && !too_big) || !may_answer_ipv6(original, source, destination, too_big) {
                    return None;
                }
                let ours = port.icmp_source_v6?;
                // A link-local source serves only a neighbour on the link itself, never the far end of a tunnel.
                if ours.is_unicast_link_local() && matches!(way_back, WayBack::Tunnel(_)) {
                    return None;
                }
                (ours.into(), source.into())
            }
        };
        // Towards the tunnel peer the core port must know where to send (as for any encapsulated packet).
        let core = context.core.as_ref();
        let (front, core_mac) = match way_back {
            WayBack::Link => (ethernet::HEADER_LEN, None),
            WayBack::Tunnel(record) => {
                let flags = record.flags();
                let outer = if flags & flag::OUTER_IPV6 != 0 { IpFamily::V6 } else { IpFamily::V4 };
                let core_mac = if flags & flag::CORE_MAC_FROM_PORT != 0 { Some(core?.header(outer)?) } else { None };
                if flags & flag::TX == 0 {
                    return None;
                }
                (template_len(flags), core_mac)
            }
        };
        if !self.error_budget.take() {
            self.counters.path.icmp_rate_limited.add(1);
            return None;
        }
        let previous_hop = ethernet::MacAddr(*crate::wire::array_at::<6>(frame, 6)?);
        let (headers, largest) = match work.family {
            IpFamily::V4 => (ipv4::MIN_HEADER_LEN + icmp::HEADER_LEN, icmp::IPV4_ERROR_MAX),
            IpFamily::V6 => (ipv6::HEADER_LEN + icmp::HEADER_LEN, icmp::IPV6_ERROR_MAX),
        };
        let largest = largest.min(usize::from(port.mtu));
        let quoted = original.len().min(largest - headers);
        // Cut everything after the quote, then make room for the new headers in front of it.
        let front = front + headers;
        if packet.headroom() + at < front || !packet.trim(packet.data().len().saturating_sub(at + quoted)) {
            return None;
        }
        let grown = if at < front { packet.prepend(front - at).is_some() } else { packet.adj(at - front) };
        let data = packet.data_mut();
        if !grown || data.len() < front {
            return None;
        }
        let (outside, datagram) = data.split_at_mut(front - headers);
        let written = match (source, destination) {
            (IpAddr::V4(source), IpAddr::V4(destination)) => {
                icmp::write_ipv4_error(datagram, source, destination, kind)
            }
            (IpAddr::V6(source), IpAddr::V6(destination)) => {
                icmp::write_ipv6_error(datagram, source, destination, kind)
            }
            _ => None,
        };
        written?;
        let ethertype = work.family.ethertype();
        match way_back {
            WayBack::Link => {
                let header = crate::wire::array_at_mut(outside, 0)?;
                ethernet::write_header(header, previous_hop, port.mac, ethertype);
                Some(Next::forward(context.rx_port))
            }
            WayBack::Tunnel(record) => {
                let core = core?;
                let flags = record.flags();
                let tos = datagram.get(1).map_or(0, |&tos| if work.family == IpFamily::V4 { tos } else { 0 });
                record.write_outer(
                    flags,
                    packet.data_mut(),
                    core_mac,
                    ethertype,
                    headers + quoted,
                    tos & core.dscp_mask,
                )?;
                if flags & flag::CHECKSUM_OFFLOAD != 0 {
                    packet.request_tx_ipv4_checksum(ethernet::HEADER_LEN as u8, ipv4::MIN_HEADER_LEN as u8);
                }
                Some(Next::forward(core.port))
            }
        }
    }
}

/// Where an error about a refused packet goes.
#[derive(Clone, Copy)]
enum WayBack<'a> {
    /// Out of the port the packet came in on, to the neighbour it came from.
    Link,
    /// Back into the tunnel the packet came out of.
    Tunnel(&'a Record),
}

/// (source, destination) of an IPv4 packet.
fn ipv4_addresses(packet: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr)> {
    let header = crate::wire::array_at::<{ ipv4::MIN_HEADER_LEN }>(packet, 0)?;
    let address = |at: usize| Ipv4Addr::new(header[at], header[at + 1], header[at + 2], header[at + 3]);
    Some((address(12), address(16)))
}

/// (source, destination) of an IPv6 packet.
fn ipv6_addresses(packet: &[u8]) -> Option<(Ipv6Addr, Ipv6Addr)> {
    let header = crate::wire::array_at::<{ ipv6::HEADER_LEN }>(packet, 0)?;
    let address = |at: usize| -> Option<Ipv6Addr> { Some(Ipv6Addr::from(*crate::wire::array_at::<16>(header, at)?)) };
    Some((address(8)?, address(24)?))
}

/// RFC 1812 §4.3.2.7: no error about an ICMP error, a non-first fragment, a packet to a multicast or broadcast
/// address, or a packet whose source does not name one host.
fn may_answer_ipv4(packet: &[u8], source: Ipv4Addr, destination: Ipv4Addr) -> bool {
    // 0/8 (this network), 127/8 (loopback), 224/4 and up (multicast, reserved, limited broadcast).
    let first = source.octets()[0];
    if first == 0 || first == 127 || first >= 224 || destination.is_multicast() || destination.is_broadcast() {
        return false;
    }
    let Some(header) = crate::wire::array_at::<{ ipv4::MIN_HEADER_LEN }>(packet, 0) else { return false };
    if u16::from_be_bytes([header[6], header[7]]) & 0x1fff != 0 {
        return false;
    }
    if header[9] == ipv4::PROTOCOL_ICMP {
        let header_len = usize::from(header[0] & 0x0f) * 4;
        // An ICMP message whose type is not even there is not answered either.
        return packet.get(header_len).is_some_and(|&icmp_type| !icmp::is_ipv4_error(icmp_type));
    }
    true
}

/// RFC 4443 §2.4(e): no error about an ICMPv6 error, a packet from an address that does not name one host, or
/// (except Packet Too Big) a packet to a multicast address. A fragment other than the first is not answered
/// either (its quote would say nothing of the upper layer).
fn may_answer_ipv6(packet: &[u8], source: Ipv6Addr, destination: Ipv6Addr, too_big: bool) -> bool {
    if source.is_unspecified() || source.is_multicast() || source.is_loopback() {
        return false;
    }
    if destination.is_multicast() && !too_big {
        return false;
    }
    let Some(&next_header) = packet.get(6) else { return false };
    let upper = packet.get(ipv6::HEADER_LEN..).unwrap_or_default();
    match next_header {
        ipv6::NEXT_HEADER_ICMPV6 => upper.first().is_some_and(|&icmp_type| !icmp::is_ipv6_error(icmp_type)),
        ipv6::NEXT_HEADER_FRAGMENT => {
            upper.get(2..4).is_some_and(|offset| u16::from_be_bytes([offset[0], offset[1]]) & 0xfff8 == 0)
        }
        _ => true,
    }
}
