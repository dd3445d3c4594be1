//! The control thread's side of neighbour discovery: answering ARP / NS for our addresses, learning from what
//! arrives, giving bindings their next-hop MACs, and rewriting those bindings when a neighbour moves or goes.

use std::net::IpAddr;

use controlplane::fastpath::{Function, TunnelId, TunnelSpec};
use dataplane::binding::Binding;
use dataplane::neighbor::{arp, ndp};
use dataplane::nexthop::IpFamily;
use dataplane::wire::ethernet::MacAddr;
use dataplane::PortIndex;

use super::{to_binding, Control, NEIGHBOUR_TICK_MS};

impl Control {
    /// Answers requests for our addresses and learns the sender (RFC 826: merge; a request for us adds).
    pub(super) fn on_arp(&mut self, port: PortIndex, frame: &[u8]) {
        let Ok(packet) = arp::parse(frame) else {
            self.stats.unhandled += 1;
            return;
        };
        let Some(p) = self.ports.get(port.get()) else { return };
        let for_us = p.addresses.contains(&IpAddr::V4(packet.target_ip));
        if let Some(reply) = for_us.then(|| arp::reply_to(&packet, p.mac, packet.target_ip)).flatten() {
            self.stats.arp_answered += 1;
            self.inject_frame(port, &reply);
        }
        if !packet.sender_ip.is_unspecified() {
            self.learn(port, IpAddr::V4(packet.sender_ip), packet.sender_mac, for_us);
        }
    }

    /// Neighbor Solicitations for our addresses are answered; advertisements teach; Router Solicitations on
    /// `access` get the UE's prefix.
    pub(super) fn on_ndp(&mut self, port: PortIndex, frame: &[u8]) {
        let Ok(packet) = ndp::parse(frame) else { return };
        let Some(p) = self.ports.get(port.get()) else { return };
        let ours: Vec<_> = p
            .addresses
            .iter()
            .filter_map(|a| match a {
                IpAddr::V6(v6) => Some(*v6),
                IpAddr::V4(_) => None,
            })
            .chain([ndp::link_local_from_mac(p.mac)])
            .collect();
        match packet.message {
            ndp::NdpMessage::NeighborSolicitation { target, source_link_addr } => {
                let for_us = ours.contains(&target);
                if let Some(reply) = ndp::reply_to_solicitation(&packet, p.mac, &ours, true) {
                    self.stats.nd_answered += 1;
                    self.inject_frame(port, &reply);
                }
                if let (false, Some(mac)) = (packet.src_ip.is_unspecified(), source_link_addr) {
                    self.learn(port, IpAddr::V6(packet.src_ip), mac, for_us);
                }
            }
            ndp::NdpMessage::NeighborAdvertisement { target, target_link_addr, .. } => {
                self.learn(port, IpAddr::V6(target), target_link_addr.unwrap_or(packet.src_mac), false);
            }
            ndp::NdpMessage::RouterSolicitation { .. } if p.access => self.on_router_solicitation(port, &packet),
            _ => self.stats.unhandled += 1,
        }
    }

    /// The Ethernet source of signalling from an on-link peer is the peer: recorded so that the binding that
    /// follows has its MAC at once (an LMA learns its MAGs this way).
    pub(super) fn learn_from_signalling(&mut self, port: PortIndex, src: IpAddr, mac: MacAddr) {
        let routed = self.neighbors.port(port).is_some_and(|n| n.routes(IpFamily::of(&src)));
        if self.ports.get(port.get()).is_some_and(|p| p.core) && !routed {
            self.learn(port, src, mac, true);
        }
    }

    fn learn(&mut self, port: PortIndex, ip: IpAddr, mac: MacAddr, addressed_us: bool) {
        let now = self.clock.now().mono.0;
        if self.neighbors.learn(port, ip, mac, addressed_us, now, &mut self.frames) {
            tracing::debug!(port = %self.ports[port.get()].name, %ip, %mac, "neighbour resolved");
            self.neighbour_changed(port, ip);
        }
        self.send_frames();
    }

    /// Fills the binding's next-hop MACs: the tunnel peer on `core` unless a router (or a fixed MAC) serves the
    /// port, and on a MAG the UE on `access` (the MAC it attached with, else its IPv4 address resolved by ARP).
    /// Returns the neighbours the binding now depends on, registered as used by `id`.
    pub(super) fn with_next_hops(
        &mut self,
        id: TunnelId,
        spec: &TunnelSpec,
        mut binding: Binding,
    ) -> (Binding, Vec<(PortIndex, IpAddr)>) {
        // The clock is read only where a neighbour is resolved: a warm start installs a million bindings through
        // here, most of them on ports with a fixed next hop.
        let mut uses = Vec::new();
        if let Some(core) = self.ports.iter().position(|p| p.core).map(PortIndex) {
            let peer = spec.endpoints.remote();
            if !self.neighbors.port(core).is_some_and(|n| n.routes(IpFamily::of(&peer))) {
                let now = self.clock.now().mono.0;
                binding.next_hop.core = self.neighbors.resolve(core, peer, now, &mut self.frames);
                uses.push((core, peer));
            }
        }
        if spec.function == Function::Mag {
            if let Some(access) = self.ports.iter().position(|p| p.access).map(PortIndex) {
                let fixed = self.neighbors.port(access).is_some_and(|n| n.fixed.is_some());
                match (spec.ue_mac, spec.ue_ipv4) {
                    (Some(mac), _) => binding.next_hop.access = Some(MacAddr(mac)),
                    (None, Some(ue)) if !fixed => {
                        let now = self.clock.now().mono.0;
                        binding.next_hop.access = self.neighbors.resolve(access, IpAddr::V4(ue), now, &mut self.frames);
                        uses.push((access, IpAddr::V4(ue)));
                    }
                    // An IPv6-only UE that attached without its MAC is reached through the port's fixed next hop
                    // only: its addresses are its own choice inside the prefix.
                    _ => {}
                }
            }
        }
        for &(port, ip) in &uses {
            self.neighbors.add_user(port, ip, id);
        }
        (binding, uses)
    }

    pub(super) fn forget_next_hops(&mut self, id: TunnelId) {
        if let Some(tunnel) = self.tunnels.get(id) {
            for &(port, ip) in &tunnel.uses {
                self.neighbors.remove_user(port, ip, id);
            }
        }
    }

    /// A neighbour's MAC changed, appeared or went: every binding carrying it is rewritten.
    fn neighbour_changed(&mut self, port: PortIndex, ip: IpAddr) {
        for id in self.neighbors.users(port, ip) {
            let Some((slot, spec)) = self.tunnels.get(id).map(|t| (t.slot, t.spec)) else { continue };
            let Ok(binding) = to_binding(&spec) else { continue };
            let (binding, _) = self.with_next_hops(id, &spec, binding);
            if let Err(err) = self.tables.modify(slot, binding) {
                tracing::warn!(tunnel = id.0, "cannot update the binding's next hop: {err}");
            }
        }
    }

    /// Advances neighbour timers (solicitation retries, ageing, re-verification) and periodic advertisements.
    pub(super) fn tick_neighbors(&mut self) {
        let now = self.clock.now().mono.0;
        if now < self.last_neighbour_tick + NEIGHBOUR_TICK_MS {
            return;
        }
        self.last_neighbour_tick = now;
        for (port, ip) in self.neighbors.tick(now, &mut self.frames) {
            tracing::warn!(port = %self.ports[port.get()].name, %ip, "neighbour stopped answering");
            self.neighbour_changed(port, ip);
        }
        self.advertise_periodically(now);
        self.send_frames();
    }
}
