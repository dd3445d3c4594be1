//! Router Advertisements on a MAG's `access` port (RFC 5213 §6.7 per-MN prefix, RFC 4861 §6.2): each UE with an
//! IPv6 home network prefix is told its prefix (on-link, for SLAAC) and that we are its default router, when its
//! binding comes up, when it asks (Router Solicitation), and periodically while the binding lasts.

use std::net::Ipv6Addr;

use controlplane::fastpath::{Function, TunnelSpec};
use dataplane::neighbor::ndp::{self, NdpPacket, PrefixInfo, RouterAdvertisement};
use dataplane::wire::ethernet::MacAddr;
use dataplane::PortIndex;

use super::Control;

/// RFC 4861 §6.2.1: MaxRtrAdvInterval default 600 s; router lifetime 3 × that.
const ADVERTISE_INTERVAL_MS: u64 = 600_000;
const ROUTER_LIFETIME_S: u16 = 1800;
const VALID_LIFETIME_S: u32 = 3600;
const PREFERRED_LIFETIME_S: u32 = 1800;
/// Outer IPv6 + keyed GRE: the most the tunnel adds (40 + 8 octets: RFC 2784 with the RFC 2890 §2 Key).
const TUNNEL_OVERHEAD: u16 = 48;

impl Control {
    pub(super) fn advertise_on_install(&mut self, spec: &TunnelSpec) {
        let Some((access, prefix)) = self.advertised_prefix(spec) else { return };
        let ue = spec.ue_mac.map(MacAddr);
        if let Some(mac) = ue {
            self.advertised.insert(mac, (access, prefix));
        }
        self.send_advertisement(access, ue, prefix);
    }

    /// Stops advertising the UE's prefix. No withdrawing advertisement is sent: after a handover the UE sits on
    /// another MAG's link that uses the same link-local and link-layer address (RFC 5213 §6.9.3), and a
    /// zero-lifetime advertisement from us would cut it off there; a UE still on our link ages the route out.
    pub(super) fn withdraw_advertisement(&mut self, spec: &TunnelSpec) {
        if let Some(mac) = spec.ue_mac {
            self.advertised.remove(&MacAddr(mac));
        }
    }

    /// A Router Solicitation from a UE we serve is answered with its prefix; others are not ours to answer.
    pub(super) fn on_router_solicitation(&mut self, port: PortIndex, packet: &NdpPacket) {
        let ndp::NdpMessage::RouterSolicitation { source_link_addr } = packet.message else { return };
        let mac = source_link_addr.unwrap_or(packet.src_mac);
        match self.advertised.get(&mac) {
            Some(&(access, prefix)) if access == port => self.send_advertisement(port, Some(mac), prefix),
            _ => self.stats.unhandled += 1,
        }
    }

    pub(super) fn advertise_periodically(&mut self, now: u64) {
        if now < self.last_advertisement + ADVERTISE_INTERVAL_MS {
            return;
        }
        self.last_advertisement = now;
        let all: Vec<_> = self.advertised.iter().map(|(mac, &(port, prefix))| (*mac, port, prefix)).collect();
        for (mac, port, prefix) in all {
            self.send_advertisement(port, Some(mac), prefix);
        }
    }

    fn advertised_prefix(&self, spec: &TunnelSpec) -> Option<(PortIndex, Ipv6Addr)> {
        if spec.function != Function::Mag {
            return None;
        }
        Some((self.ports.iter().position(|p| p.access).map(PortIndex)?, spec.ue_ipv6_prefix?))
    }

    /// To the UE's MAC when known (all-nodes otherwise), from our link-local address. The MTU option tells the
    /// UE what fits through the tunnel, so it does not depend on ICMP "packet too big" from us.
    fn send_advertisement(&mut self, port: PortIndex, ue: Option<MacAddr>, prefix: Ipv6Addr) {
        let Some(p) = self.ports.get(port.get()) else { return };
        let core_mtu = self.ports.iter().find(|p| p.core).map_or(p.mtu, |c| c.mtu);
        let mtu = p.mtu.min(core_mtu.saturating_sub(TUNNEL_OVERHEAD));
        let advert = RouterAdvertisement {
            router_lifetime_s: ROUTER_LIFETIME_S,
            source_link_addr: Some(p.mac),
            mtu: Some(u32::from(mtu)),
            prefixes: vec![PrefixInfo {
                prefix,
                len: 64,
                on_link: true,
                autonomous: true,
                valid_lifetime_s: VALID_LIFETIME_S,
                preferred_lifetime_s: PREFERRED_LIFETIME_S,
            }],
        };
        let dst_mac = ue.unwrap_or_else(|| ndp::multicast_mac(&ndp::ALL_NODES));
        let frame =
            ndp::router_advertisement(p.mac, &ndp::link_local_from_mac(p.mac), dst_mac, &ndp::ALL_NODES, &advert);
        self.stats.router_advertisements += 1;
        self.frames.push((port, frame));
    }
}
